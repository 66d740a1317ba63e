package lvm

import "hash/crc32"

// initialCRC is LVM's INITIAL_CRC.
const initialCRC = 0xf597a6cf

// calcCRC is LVM's calc_crc: the reflected CRC-32 (IEEE polynomial) without the final
// inversion, continued from crc. Go's crc32 inverts on entry and exit, hence the two ^.
func calcCRC(crc uint32, b []byte) uint32 {
	return ^crc32.Update(^crc, crc32.IEEETable, b)
}
