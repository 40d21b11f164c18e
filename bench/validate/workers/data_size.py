"""The data's size in memory: `pl.read_parquet(PATH).estimated_size()` (not timed).

    python data_size.py PATH
"""

from __future__ import annotations

import os
import sys

import polars as pl
from common import emit

path = sys.argv[1]
df = pl.read_parquet(path)
emit({"rows": df.height, "columns": df.width, "estimated_size_bytes": df.estimated_size(),
      "file_bytes": os.path.getsize(path)})
