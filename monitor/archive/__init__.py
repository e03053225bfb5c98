"""The archive: evidence-grade copies of the files a target's rules select.

::

    archiver.archive_target(...)       after a poll's snapshot commits (monitor poll, the daemon)
      ├── archiver.plan(...)           what [target.archive] selects and is due, within budget
      ├── fetch.HttpFetcher / LocalFetcher.fetch(...)
      │                                stream one file into a temp file: SHA-256, type, provenance
      ├── blobs.BlobStore.put(...)     content-addressed store: a folder, or S3 (obstore)
      └── records.insert_capture(...)  one capture row per try; blob row; version.sha256
    verify.verify_blobs(...)           re-hash the store (monitor verify)

Modules are imported where they are used; this package imports nothing at import time.
"""
