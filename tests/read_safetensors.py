#!/usr/bin/env python3
"""An independent safetensors reader (standard library only), used by the test suite to
check that normgrad's checkpoints follow the format: prints name, dtype, shape, sum."""
import json
import struct
import sys

FORMATS = {"F32": "f", "F64": "d", "I64": "q"}

with open(sys.argv[1], "rb") as f:
    raw = f.read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
for name in sorted(k for k in header if k != "__metadata__"):
    e = header[name]
    b, end = e["data_offsets"]
    count = 1
    for d in e["shape"]:
        count *= d
    values = struct.unpack("<%d%s" % (count, FORMATS[e["dtype"]]), data[b:end])
    print("%s %s %s %.6g" % (name, e["dtype"], e["shape"], sum(values)))
print("metadata", json.dumps(header.get("__metadata__", {}), sort_keys=True))
