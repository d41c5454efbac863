#!/usr/bin/env python3
"""Writes the hand-made .npy files of this folder (no NumPy needed): valid
files of every supported dtype and format version, and malformed ones."""
import struct


def npy(d, data, major=1):
    h = d
    pre = 10 if major == 1 else 12
    while (pre + len(h) + 1) % 64:
        h += ' '
    h += '\n'
    out = b'\x93NUMPY' + bytes([major, 0])
    out += struct.pack('<H', len(h)) if major == 1 else struct.pack('<I', len(h))
    return out + h.encode('latin1') + data


def hdr(descr, shape, fortran=False):
    return "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, 'True' if fortran else 'False', shape)


f4 = struct.pack('<6f', 1, 2, 3, 4, 5, 6)
files = {
    'f4-v1.npy': npy(hdr('<f4', '(2, 3)'), f4),
    'f4-v2.npy': npy(hdr('<f4', '(2, 3)'), f4, 2),
    'f4-v3.npy': npy(hdr('<f4', '(2, 3)'), f4, 3),
    'f8-bigendian.npy': npy(hdr('>f8', '(3,)'), struct.pack('>3d', 0.5, -1.25, 3)),
    'f2.npy': npy(hdr('<f2', '(2,)'), struct.pack('<2H', 0x3c00, 0xc000)),  # 1, -2
    'bf16-as-u2.npy': npy(hdr('<u2', '(2,)'), struct.pack('<2H', 0x3f80, 0x4049)),  # 1, 3.140625
    'bool.npy': npy(hdr('|b1', '(3,)'), bytes([1, 0, 1])),
    'fortran.npy': npy(hdr('<f4', '(2, 3)', True), f4),
    'i8.npy': npy(hdr('<i8', '(2,)'), struct.pack('<2q', 1, 2)),
    'truncated.npy': npy(hdr('<f4', '(4, 3)'), f4),
    'huge-shape.npy': npy(hdr('<f4', '(1000000, 1000000, 1000000)'), f4),
    'bad-magic.npy': b'PK\x03\x04 this is a zip, not an npy file\n',
    'bad-header.npy': npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3}", f4),
}
for name, data in files.items():
    with open(name, 'wb') as f:
        f.write(data)
