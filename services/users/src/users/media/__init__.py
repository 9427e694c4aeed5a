"""Uploaded images: checked and processed (`images.py`), stored behind one small interface with a
local-folder and an S3-compatible backend (`storage.py`), named by their content's hash."""
