"""The archive: evidence-grade copies of the files a target's rules select.

::

    archiver.archive_snapshot(...)     after a poll's snapshot commits (monitor poll, the daemon)
      ├── fetch.download(...)          stream one file into a temp file, SHA-256, provenance
      └── blobs.BlobStore.put(...)     content-addressed store: a folder, or S3 (obstore)

Modules are imported where they are used; this package imports nothing at import time.
"""
