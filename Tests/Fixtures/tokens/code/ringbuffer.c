/* ringbuffer.c - a fixed-size byte ring buffer for a single producer and single consumer. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t capacity;   /* always a power of two */
    size_t head;       /* next byte to write */
    size_t tail;       /* next byte to read */
} ring_t;

static size_t next_pow2(size_t n) {
    size_t p = 1;
    while (p < n) {
        p <<= 1;
    }
    return p;
}

int ring_init(ring_t *r, size_t min_capacity) {
    if (r == NULL || min_capacity == 0) {
        return -EINVAL;
    }
    r->capacity = next_pow2(min_capacity);
    r->data = malloc(r->capacity);
    if (r->data == NULL) {
        return -ENOMEM;
    }
    r->head = r->tail = 0;
    return 0;
}

void ring_free(ring_t *r) {
    free(r->data);
    memset(r, 0, sizeof(*r));
}

static inline size_t ring_used(const ring_t *r) { return r->head - r->tail; }
static inline size_t ring_space(const ring_t *r) { return r->capacity - ring_used(r); }

size_t ring_write(ring_t *r, const void *src, size_t len) {
    size_t n = len < ring_space(r) ? len : ring_space(r);
    size_t off = r->head & (r->capacity - 1);
    size_t first = n < r->capacity - off ? n : r->capacity - off;
    memcpy(r->data + off, src, first);
    memcpy(r->data, (const uint8_t *)src + first, n - first);
    r->head += n;
    return n;
}

size_t ring_read(ring_t *r, void *dst, size_t len) {
    size_t n = len < ring_used(r) ? len : ring_used(r);
    size_t off = r->tail & (r->capacity - 1);
    size_t first = n < r->capacity - off ? n : r->capacity - off;
    memcpy(dst, r->data + off, first);
    memcpy((uint8_t *)dst + first, r->data, n - first);
    r->tail += n;
    return n;
}

int main(void) {
    ring_t r;
    char out[16];
    if (ring_init(&r, 10) != 0) {
        fprintf(stderr, "ring_init failed\n");
        return 1;
    }
    printf("capacity=%zu\n", r.capacity);
    size_t w = ring_write(&r, "hello, ring buffer", 18);
    printf("wrote %zu of 18 bytes, used=%zu\n", w, ring_used(&r));
    size_t n = ring_read(&r, out, 5);
    out[n] = '\0';
    printf("read %zu: \"%s\", space=%zu\n", n, out, ring_space(&r));
    ring_free(&r);
    return 0;
}
