// Package diskimagetest builds crafted ("bomb") disk images for tests: tiny qcow2 and VMDK
// files whose headers claim a huge virtual disk with a huge, finely alternating extent map,
// the way a hostile image would try to exhaust memory or time. It writes files only; it
// trusts nothing and is trusted by nothing but tests.
package diskimagetest

import (
	"encoding/binary"
	"os"
)

// honestEntries is how many table entries of an Honest image alternate (half of them data).
const honestEntries = 64

// Sharing says which tables and data a bomb shares between guest ranges.
type Sharing int

const (
	// SharedTables points every directory entry (qcow2 L1, VMDK grain directory) at one
	// table whose entries alternate data / unallocated: the smallest file, the largest map.
	SharedTables Sharing = iota
	// SharedData gives each of the first few directory entries its own table, every data
	// entry pointing at the same host cluster or grain: more data mapped than the file holds.
	SharedData
	// Honest gives the first directory entry its own table whose first 64 entries alternate,
	// each data entry with its own host cluster or grain, the rest of the disk unallocated: a
	// valid image, large and sparse.
	Honest
)

// Qcow2 writes a qcow2 v3 image with extended L2 entries (64 KiB clusters, 2 KiB
// subclusters) claiming size bytes, whose L2 entries alternate between a cluster with every
// other subcluster allocated (filled with fill) and an unallocated one.
func Qcow2(path string, size uint64, sharing Sharing, fill byte) error {
	const bits = 16
	const cs = 1 << bits
	const perL2 = cs * (cs / 16)
	l1Entries := (size + perL2 - 1) / perL2
	l1Clusters := (l1Entries*8 + cs - 1) / cs
	tables := uint64(1)
	switch sharing {
	case SharedData:
		tables = min(4, l1Entries)
	}
	// Layout: header | refcount table (empty) | L1 | L2 tables | data clusters.
	l1Off := uint64(2 * cs)
	l2Off := l1Off + l1Clusters*cs
	dataOff := l2Off + tables*cs
	nData := uint64(1)
	if sharing == Honest {
		nData = honestEntries / 2 // one per allocated L2 entry
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	be := binary.BigEndian
	h := make([]byte, 112)
	copy(h, "QFI\xfb")
	be.PutUint32(h[4:], 3)
	be.PutUint32(h[20:], bits)
	be.PutUint64(h[24:], size)
	be.PutUint32(h[36:], uint32(l1Entries))
	be.PutUint64(h[40:], l1Off)
	be.PutUint64(h[48:], cs) // refcount table
	be.PutUint32(h[56:], 1)
	be.PutUint64(h[72:], 1<<4) // incompatible: extended L2
	be.PutUint32(h[96:], 4)    // refcount order
	be.PutUint32(h[100:], 112) // header length
	if _, err := f.WriteAt(h, 0); err != nil {
		return err
	}
	l1 := make([]byte, l1Entries*8)
	for i := uint64(0); i < l1Entries; i++ {
		switch {
		case sharing == SharedTables:
			be.PutUint64(l1[i*8:], l2Off|1<<63)
		case i < tables:
			be.PutUint64(l1[i*8:], (l2Off+i*cs)|1<<63)
		}
	}
	if _, err := f.WriteAt(l1, int64(l1Off)); err != nil {
		return err
	}
	for t := uint64(0); t < tables; t++ {
		l2 := make([]byte, cs)
		for j := uint64(0); j < cs/16 && (sharing != Honest || j < honestEntries); j += 2 {
			host := dataOff
			if sharing == Honest {
				host = dataOff + j/2*cs
			}
			be.PutUint64(l2[j*16:], host)
			be.PutUint64(l2[j*16+8:], 0x55555555) // every other subcluster allocated
		}
		if _, err := f.WriteAt(l2, int64(l2Off+t*cs)); err != nil {
			return err
		}
	}
	data := make([]byte, cs)
	for i := range data {
		data[i] = fill
	}
	for d := uint64(0); d < nData; d++ {
		if _, err := f.WriteAt(data, int64(dataOff+d*cs)); err != nil {
			return err
		}
	}
	return nil
}

// VMDK writes a monolithicSparse VMDK claiming size bytes with grains of grainSectors
// sectors and 512-entry grain tables whose entries alternate data (filled with fill) and
// unallocated.
func VMDK(path string, size uint64, grainSectors uint64, sharing Sharing, fill byte) error {
	const gtes = 512 // as qemu, which refuses more
	const sector = 512
	grain := grainSectors * sector
	perGT := gtes * grain
	gdEntries := (size + perGT - 1) / perGT
	tables := uint64(1)
	if sharing == SharedData {
		tables = min(4, gdEntries)
	}
	gdSectors := (gdEntries*4 + sector - 1) / sector
	gdOff := uint64(1)
	gtOff := gdOff + gdSectors
	dataOff := gtOff + tables*gtes*4/sector
	nData := uint64(1)
	if sharing == Honest {
		nData = honestEntries / 2
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	le := binary.LittleEndian
	h := make([]byte, sector)
	copy(h, "KDMV")
	le.PutUint32(h[4:], 1)
	le.PutUint32(h[8:], 1) // valid newline test
	le.PutUint64(h[12:], size/sector)
	le.PutUint64(h[20:], grainSectors)
	le.PutUint32(h[44:], gtes)
	le.PutUint64(h[56:], gdOff)
	le.PutUint64(h[64:], dataOff)
	copy(h[73:], "\n \r\n")
	if _, err := f.WriteAt(h, 0); err != nil {
		return err
	}
	gd := make([]byte, gdEntries*4)
	for i := uint64(0); i < gdEntries; i++ {
		switch {
		case sharing == SharedTables:
			le.PutUint32(gd[i*4:], uint32(gtOff))
		case i < tables:
			le.PutUint32(gd[i*4:], uint32(gtOff+i*gtes*4/sector))
		}
	}
	if _, err := f.WriteAt(gd, int64(gdOff*sector)); err != nil {
		return err
	}
	for t := uint64(0); t < tables; t++ {
		gt := make([]byte, gtes*4)
		for j := uint64(0); j < gtes && (sharing != Honest || j < honestEntries); j += 2 {
			host := dataOff
			if sharing == Honest {
				host = dataOff + j/2*grainSectors
			}
			le.PutUint32(gt[j*4:], uint32(host))
		}
		if _, err := f.WriteAt(gt, int64((gtOff+t*gtes*4/sector)*sector)); err != nil {
			return err
		}
	}
	data := make([]byte, grain)
	for i := range data {
		data[i] = fill
	}
	for d := uint64(0); d < nData; d++ {
		if _, err := f.WriteAt(data, int64((dataOff+d*grainSectors)*sector)); err != nil {
			return err
		}
	}
	return nil
}
