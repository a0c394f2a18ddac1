#ifndef JBAI_CMALLOC_H
#define JBAI_CMALLOC_H

/// glibc's allocator tuning, which Swift's Glibc module does not export.
/// Returns 1 on success, 0 where it is not available.
int jbai_set_mmap_threshold(int bytes);

#endif
