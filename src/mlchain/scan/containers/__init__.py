"""Containers around pickles and archives: PyTorch zip/legacy/tar, TorchScript, NumPy, joblib.

Every container a model loader reads is parsed here without loading anything: zip archives
with a lenient central-directory reader that accepts what torch's miniz accepts
(:mod:`.zipreader`), tar archives with a linear header reader (:mod:`.tarreader`), ``.npy``/
``.npz`` headers, and gzip/bz2/xz/zlib streams decompressed with bounded memory
(:mod:`.streams`). Every pickle found is handed to the symbolic pickle VM
(:func:`mlchain.scan.pickle.vm.scan_pickle`); tensor storages are never read.

Severity decisions:

* Irregular archives that torch still loads (bad CRC, odd flag bits, local/central header
  disagreement, prepended bytes) are ``archive-malformed`` (medium) and the content is scanned
  as torch reads it; a local/central *name* mismatch, duplicate names, a member count that
  miniz and zipfile read differently, ``..``/absolute names, links and devices are
  ``archive-suspicious-member`` (high).
* Content mlchain cannot open (7z, lz4, unknown zip methods, encrypted or sparse members) is
  ``archive-unsupported`` (high): torch cannot load 7z either, but nullifAI showed 7z-wrapped
  pickles on a model hub, and an opaque archive is not proof of anything.
* Limits (size, ratio, nesting, overlapping members) are ``archive-bomb``; time and pickle size
  limits are ``scan-limit-exceeded``.
* TorchScript code members are checked by :mod:`mlchain.scan.torchscript`. Their pickles are
  read by torch's C++ unpickler, which resolves only ``__torch__`` classes and
  ``torch.jit._pickle`` helpers, so those globals are not reported as Python imports; anything
  else in them still is.
"""
