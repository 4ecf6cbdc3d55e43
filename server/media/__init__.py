"""Media: uploads, storage, serving, and the media store of runs."""
