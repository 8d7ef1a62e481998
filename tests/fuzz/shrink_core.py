#!/usr/bin/env python3
"""Shrinks an x86-64 ELF core file into a fuzz seed: the notes whole (threads, registers, mapped
files, auxv), each PT_LOAD cut to its first KEEP bytes (p_memsz kept, so the core is then one
that says it holds more than it does for no segment), no section headers.
Usage: shrink_core.py CORE OUT [KEEP]"""
import struct
import sys

core, out = sys.argv[1], sys.argv[2]
keep = int(sys.argv[3]) if len(sys.argv) > 3 else 256
data = open(core, 'rb').read()
ehdr = bytearray(data[:64])
phoff, = struct.unpack_from('<Q', ehdr, 32)
phentsize, phnum = struct.unpack_from('<HH', ehdr, 54)
phdrs = [list(struct.unpack_from('<IIQQQQQQ', data, phoff + i * phentsize)) for i in range(phnum)]
body = bytearray()
offset = 64 + phnum * 56
for ph in phdrs:
    p_type, p_offset, p_filesz = ph[0], ph[2], ph[5]
    size = p_filesz if p_type == 4 else min(p_filesz, keep)  # PT_NOTE whole
    chunk = data[p_offset:p_offset + size]
    ph[2] = offset + len(body)
    ph[5] = len(chunk)
    if p_type == 1:
        ph[6] = len(chunk)  # p_memsz: what the core holds (the rest reads as unreadable)
    body += chunk
struct.pack_into('<QHHH', ehdr, 40, 0, 64, 56, phnum)  # e_shoff, e_ehsize, e_phentsize, e_phnum
struct.pack_into('<HHH', ehdr, 58, 64, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
struct.pack_into('<Q', ehdr, 32, 64)
with open(out, 'wb') as f:
    f.write(ehdr)
    for ph in phdrs:
        f.write(struct.pack('<IIQQQQQQ', *ph))
    f.write(body)
