"""The domain: jobs, scripts, stages and events. No I/O, nothing about AWS."""
