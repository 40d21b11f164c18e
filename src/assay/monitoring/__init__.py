"""Monitoring: drift against the model's reference profile, quality against delayed labels, SLOs
with multiwindow burn-rate alerts, alert sinks, runbooks and retraining requests.

It reads what serving and batch scoring leave behind (the prediction log, scoring outputs) and the
project's records (the model's reference profile, its offline evaluation); it never needs the raw
training data again.
"""
