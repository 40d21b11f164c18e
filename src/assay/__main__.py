"""`python -m assay` is the same as the `assay` command."""

from assay.cli.entry import main

main()
