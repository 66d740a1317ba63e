#!/usr/bin/python3
"""tiny-image.py OUT.raw - write a 16 MiB raw disk that really boots, for the smoke test.

Sector 0 is a 38-byte x86 real-mode program in the MBR: it writes
"CHROMOGENIC-AIO-BOOT-OK" to the first serial port (COM1, polling the line status register)
and halts with interrupts off, so the guest uses no CPU afterwards, even under TCG. Nova's
libvirt driver logs the serial port to console.log, so `openstack console log show` proves
that the guest ran. Partition 1 (from sector 2048, type 83) is left empty here: the caller
puts an ext4 filesystem with a known file there (mkfs.ext4 -d), so a snapshot's data can be
checked too. No root, loop device, mount or download is needed.
"""
import struct
import sys

MARKER = b'CHROMOGENIC-AIO-BOOT-OK\r\n\0'
SECTOR = 512
SIZE = 16 << 20
PART_START = 2048


def boot_code():
    base = 0x7C00
    code = bytearray()
    code += b'\xFA'                      # cli
    code += b'\xFC'                      # cld
    code += b'\x31\xC0'                  # xor ax, ax
    code += b'\x8E\xD8'                  # mov ds, ax
    mov_si = len(code)
    code += b'\xBE\x00\x00'              # mov si, MSG (patched below)
    nxt = len(code)
    code += b'\xAC'                      # next: lodsb
    code += b'\x84\xC0'                  # test al, al
    jz_done = len(code)
    code += b'\x74\x00'                  # jz done (patched)
    code += b'\x88\xC3'                  # mov bl, al
    code += b'\xBA\xFD\x03'              # mov dx, 0x3FD (COM1 line status)
    wait = len(code)
    code += b'\xEC'                      # wait: in al, dx
    code += b'\xA8\x20'                  # test al, 0x20 (transmitter holding register empty)
    code += b'\x74' + struct.pack('b', wait - (len(code) + 2))   # jz wait
    code += b'\x88\xD8'                  # mov al, bl
    code += b'\xBA\xF8\x03'              # mov dx, 0x3F8 (COM1 data)
    code += b'\xEE'                      # out dx, al
    code += b'\xEB' + struct.pack('b', nxt - (len(code) + 2))    # jmp next
    done = len(code)
    code += b'\xF4'                      # done: hlt
    code += b'\xEB' + struct.pack('b', done - (len(code) + 2))   # jmp done
    msg = len(code)
    code += MARKER
    code[mov_si + 1:mov_si + 3] = struct.pack('<H', base + msg)
    code[jz_done + 1] = struct.pack('b', done - (jz_done + 2))[0]
    assert len(code) <= 446
    return bytes(code)


def mbr():
    sector = bytearray(SECTOR)
    code = boot_code()
    sector[:len(code)] = code
    sectors = SIZE // SECTOR - PART_START
    # one partition entry: not active, CHS fields unused (0xFE/0xFF = "use LBA"), type 0x83
    entry = struct.pack('<B3sB3sII', 0x00, b'\xFE\xFF\xFF', 0x83, b'\xFE\xFF\xFF',
                        PART_START, sectors)
    sector[446:462] = entry
    sector[510:512] = b'\x55\xAA'
    return bytes(sector)


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], 'wb') as f:
        f.write(mbr())
        f.truncate(SIZE)
