package store

import (
	"sync"

	"modernc.org/libc"
)

var ballastOnce sync.Once

// pinAllocatorPages keeps one block of every small size class of the
// allocator behind modernc's SQLite allocated for the life of the process.
//
// That allocator unmaps a 64 KiB page as soon as its last block is freed, so
// the alloc/free pattern of every statement made it mmap and munmap pages
// over and over: a quarter of the CPU of a point read went to those system
// calls. A page holding a pinned block is never empty, so it stays mapped and
// is reused. The cost is one page per size class (about 700 KiB).
func pinAllocatorPages() {
	ballastOnce.Do(func() {
		tls := libc.NewTLS()
		for size := 16; size <= 16<<10; size *= 2 {
			libc.Xmalloc(tls, libc.Tsize_t(size))
		}
	})
}
