"""The Lambda entry points: archive, discover and tables (the custom resource). Each pauses the
garbage collector while it loads (archiver.compat): its first statement and its last."""
