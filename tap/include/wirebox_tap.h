/*
 * wirebox_tap.h - NetTap application API of the wirebox daemon, for C.
 *
 * Everything here is described in docs/TAP-ABI.md; this header needs only
 * libc and Linux (memfd, eventfd, SCM_RIGHTS). ABI version 1.
 *
 * An application connects to the tap socket (SOCK_SEQPACKET), says hello,
 * receives four file descriptors (pool memfd, ring memfd, application
 * eventfd, daemon eventfd), maps the pool and the rings, asks for taps,
 * and then moves frame references through four single-producer
 * single-consumer rings:
 *   detour  daemon -> app  frames from its taps
 *   revert  app -> daemon  frames to continue (input/output) or send (bypass)
 *   alloc   daemon -> app  free frames it may fill
 *   dealloc app -> daemon  frames it is done with
 * Every frame id written to revert or dealloc must be one the
 * application holds (received from detour or alloc and not yet returned):
 * anything else disconnects it and the daemon takes back all its frames.
 */
#ifndef WIREBOX_TAP_H
#define WIREBOX_TAP_H

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define WBT_ABI_VERSION 1
#define WBT_REGION_MAGIC 0x314c4f4f50544257ULL /* "WBTPOOL1" */
#define WBT_RINGS_MAGIC 0x31474e4952544257ULL  /* "WBTRING1" */
#define WBT_PROTO_MAGIC 0x50544257U            /* "WBTP" */

/* Pool region header, at hello's header_offset (after the descriptors). */
struct wbt_region_header {
	uint64_t magic;
	uint32_t abi_version;
	uint32_t header_size;
	uint32_t frame_size;
	uint32_t frame_count;
	uint64_t frames_offset; /* 0: the frame area is the AF_XDP UMEM */
	uint64_t descs_offset;
	uint32_t desc_size; /* 64 */
	uint32_t reserved;
	uint64_t header_offset;
	uint64_t region_size;
};

/* Frame descriptor (read only for applications: the daemon keeps it). */
struct wbt_frame_desc {
	int32_t ref;
	uint32_t owner;
	uint32_t next;
	uint32_t off;
	uint32_t len;
	uint32_t wire_len;
	int64_t ts;    /* ns, the daemon's clock */
	uint32_t port; /* port index */
	uint32_t flags;
	int64_t tx_ts;
	uint32_t tx_port;
	uint8_t reserved[12];
};

/* A ring entry. */
struct wbt_desc {
	uint32_t id;  /* frame id: bytes at id * frame_size in the pool */
	uint32_t off; /* data offset in the frame */
	uint32_t len; /* data length */
	uint32_t tap; /* detour: tap it came from; revert: tap it goes to */
};

enum { WBT_RING_DETOUR, WBT_RING_REVERT, WBT_RING_ALLOC, WBT_RING_DEALLOC, WBT_NUM_RINGS };

/* Ring memfd header, at offset 0. */
struct wbt_rings_header {
	uint64_t magic;
	uint32_t abi_version;
	uint32_t ring_count; /* 4 */
	uint32_t ring_size;  /* entries, a power of two */
	uint32_t entry_size; /* 16 */
	uint64_t ring_offset[WBT_NUM_RINGS];
	uint64_t total_size;
};

/* Within a ring: indices and flags on their own cache lines, then entries. */
#define WBT_RING_PRODUCER 0
#define WBT_RING_CONSUMER 64
#define WBT_RING_FLAGS 128
#define WBT_RING_ENTRIES 256
#define WBT_RING_NEED_WAKEUP 1u

/* One side of a ring (after xsk.h: cached copy of the other index). */
struct wbt_ring {
	uint32_t *producer, *consumer, *flags;
	struct wbt_desc *ring;
	uint32_t mask, size;
	uint32_t cached_prod, cached_cons;
};

/* Socket protocol. */
enum { WBT_MSG_HELLO = 1, WBT_MSG_TAP = 2, WBT_MSG_CLOSE_TAP = 3 };
enum { WBT_TAP_INPUT = 1, WBT_TAP_OUTPUT = 2, WBT_TAP_BYPASS = 3 };
#define WBT_MAX_MESSAGE 512

struct wbt_app {
	int sock, pool_fd, rings_fd, app_efd, daemon_efd;
	uint32_t seq, app_id, quota, frame_size, frame_count;
	uint8_t *pool;
	size_t pool_size;
	const struct wbt_region_header *hdr;
	const struct wbt_frame_desc *descs;
	uint8_t *rings;
	size_t rings_size;
	struct wbt_ring detour, revert, alloc, dealloc;
	char error[256];
};

static inline uint32_t wbt_load_acquire(uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void wbt_store_release(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* Producer: entries free for writing, up to n (0 also when the other side is broken). */
static inline uint32_t wbt_ring_reserve(struct wbt_ring *r, uint32_t n) {
	uint32_t free_entries = r->size - (r->cached_prod - r->cached_cons);
	if (free_entries < n) {
		r->cached_cons = wbt_load_acquire(r->consumer);
		uint32_t used = r->cached_prod - r->cached_cons;
		if (used > r->size)
			return 0;
		free_entries = r->size - used;
	}
	return free_entries < n ? free_entries : n;
}
static inline struct wbt_desc *wbt_ring_slot(struct wbt_ring *r, uint32_t i) {
	return &r->ring[(r->cached_prod + i) & r->mask];
}
static inline void wbt_ring_submit(struct wbt_ring *r, uint32_t n) {
	r->cached_prod += n;
	wbt_store_release(r->producer, r->cached_prod);
}
/* Consumer: entries ready for reading, up to n. */
static inline uint32_t wbt_ring_peek(struct wbt_ring *r, uint32_t n) {
	uint32_t avail = r->cached_prod - r->cached_cons;
	if (avail < n) {
		r->cached_prod = wbt_load_acquire(r->producer);
		avail = r->cached_prod - r->cached_cons;
		if (avail > r->size)
			return 0;
	}
	return avail < n ? avail : n;
}
static inline struct wbt_desc wbt_ring_entry(struct wbt_ring *r, uint32_t i) {
	return r->ring[(r->cached_cons + i) & r->mask];
}
static inline void wbt_ring_release(struct wbt_ring *r, uint32_t n) {
	r->cached_cons += n;
	wbt_store_release(r->consumer, r->cached_cons);
}

/* Frame bytes of a ring entry (NULL if it does not fit its frame). */
static inline uint8_t *wbt_data(const struct wbt_app *a, struct wbt_desc d) {
	if (d.id >= a->frame_count || (uint64_t)d.off + d.len > a->frame_size)
		return NULL;
	return a->pool + (size_t)d.id * a->frame_size + d.off;
}

static inline void wbt__put16(uint8_t *b, uint16_t v) { memcpy(b, &v, 2); } /* little-endian hosts */
static inline void wbt__put32(uint8_t *b, uint32_t v) { memcpy(b, &v, 4); }
static inline uint32_t wbt__get32(const uint8_t *b) { uint32_t v; memcpy(&v, b, 4); return v; }
static inline uint64_t wbt__get64(const uint8_t *b) { uint64_t v; memcpy(&v, b, 8); return v; }

static inline size_t wbt__header(uint8_t *b, uint16_t type, uint32_t seq) {
	wbt__put32(b, WBT_PROTO_MAGIC);
	wbt__put16(b + 4, WBT_ABI_VERSION);
	wbt__put16(b + 6, type);
	wbt__put32(b + 8, seq);
	wbt__put32(b + 12, 0);
	return 16;
}

/* Sends a request and reads the response; fds[] gets up to nfds descriptors. */
static inline int wbt__call(struct wbt_app *a, uint8_t *req, size_t len, uint8_t *resp, size_t *rlen, int *fds, int nfds) {
	if (send(a->sock, req, len, 0) != (ssize_t)len) {
		snprintf(a->error, sizeof a->error, "send: %s", strerror(errno));
		return -1;
	}
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = {resp, WBT_MAX_MESSAGE};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	ssize_t n = recvmsg(a->sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 16 || wbt__get32(resp) != WBT_PROTO_MAGIC) {
		snprintf(a->error, sizeof a->error, "bad response");
		return -1;
	}
	*rlen = (size_t)n;
	int got = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
				if (got < nfds)
					fds[got++] = fd;
				else
					close(fd);
			}
		}
	uint32_t status = wbt__get32(resp + 12);
	if (status != 0) {
		snprintf(a->error, sizeof a->error, "refused (status %u): %.*s", status, (int)(n - 16), (char *)resp + 16);
		for (int i = 0; i < got; i++)
			close(fds[i]);
		return -1;
	}
	return got;
}

static inline void wbt__ring(struct wbt_app *a, struct wbt_ring *r, const struct wbt_rings_header *h, int i) {
	uint8_t *base = a->rings + h->ring_offset[i];
	r->producer = (uint32_t *)(base + WBT_RING_PRODUCER);
	r->consumer = (uint32_t *)(base + WBT_RING_CONSUMER);
	r->flags = (uint32_t *)(base + WBT_RING_FLAGS);
	r->ring = (struct wbt_desc *)(base + WBT_RING_ENTRIES);
	r->size = h->ring_size;
	r->mask = h->ring_size - 1;
	r->cached_prod = wbt_load_acquire(r->producer);
	r->cached_cons = wbt_load_acquire(r->consumer);
}

/* Connects, says hello, maps pool and rings. 0 on success, -1 with a->error. */
static inline int wbt_connect(struct wbt_app *a, const char *path, const char *name, uint32_t alloc) {
	memset(a, 0, sizeof *a);
	a->pool_fd = a->rings_fd = a->app_efd = a->daemon_efd = -1;
	a->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
	if (a->sock < 0 || connect(a->sock, (struct sockaddr *)&sa, sizeof sa) < 0) {
		snprintf(a->error, sizeof a->error, "connect %s: %s", path, strerror(errno));
		return -1;
	}
	uint8_t req[WBT_MAX_MESSAGE], resp[WBT_MAX_MESSAGE];
	size_t nl = strlen(name) > 64 ? 64 : strlen(name), len = wbt__header(req, WBT_MSG_HELLO, ++a->seq), rlen;
	wbt__put32(req + len, alloc);
	wbt__put32(req + len + 4, 0);
	wbt__put16(req + len + 8, (uint16_t)nl);
	memcpy(req + len + 10, name, nl);
	int fds[4];
	if (wbt__call(a, req, len + 10 + nl, resp, &rlen, fds, 4) != 4 || rlen != 16 + 48) {
		if (!a->error[0])
			snprintf(a->error, sizeof a->error, "hello: bad response");
		return -1;
	}
	a->pool_fd = fds[0], a->rings_fd = fds[1], a->app_efd = fds[2], a->daemon_efd = fds[3];
	a->app_id = wbt__get32(resp + 16);
	a->quota = wbt__get32(resp + 20);
	uint64_t region_size = wbt__get64(resp + 40), hdr_off = wbt__get64(resp + 48);
	struct stat st;
	if (fstat(a->pool_fd, &st) < 0 || (uint64_t)st.st_size != region_size || hdr_off + sizeof(struct wbt_region_header) > region_size) {
		snprintf(a->error, sizeof a->error, "pool memfd does not match hello");
		return -1;
	}
	a->pool_size = region_size;
	a->pool = mmap(NULL, a->pool_size, PROT_READ | PROT_WRITE, MAP_SHARED, a->pool_fd, 0);
	if (a->pool == MAP_FAILED) {
		snprintf(a->error, sizeof a->error, "mmap pool: %s", strerror(errno));
		return -1;
	}
	a->hdr = (const struct wbt_region_header *)(a->pool + hdr_off);
	if (a->hdr->magic != WBT_REGION_MAGIC || a->hdr->abi_version != WBT_ABI_VERSION || a->hdr->desc_size != sizeof(struct wbt_frame_desc) || a->hdr->region_size != region_size) {
		snprintf(a->error, sizeof a->error, "pool header: wrong magic, version or layout");
		return -1;
	}
	a->frame_size = a->hdr->frame_size;
	a->frame_count = a->hdr->frame_count;
	a->descs = (const struct wbt_frame_desc *)(a->pool + a->hdr->descs_offset);
	if (fstat(a->rings_fd, &st) < 0) {
		snprintf(a->error, sizeof a->error, "stat rings: %s", strerror(errno));
		return -1;
	}
	a->rings_size = (size_t)st.st_size;
	a->rings = mmap(NULL, a->rings_size, PROT_READ | PROT_WRITE, MAP_SHARED, a->rings_fd, 0);
	if (a->rings == MAP_FAILED) {
		snprintf(a->error, sizeof a->error, "mmap rings: %s", strerror(errno));
		return -1;
	}
	const struct wbt_rings_header *rh = (const struct wbt_rings_header *)a->rings;
	if (rh->magic != WBT_RINGS_MAGIC || rh->abi_version != WBT_ABI_VERSION || rh->ring_count != WBT_NUM_RINGS || rh->entry_size != sizeof(struct wbt_desc) ||
	    rh->total_size != a->rings_size || rh->ring_size == 0 || (rh->ring_size & (rh->ring_size - 1))) {
		snprintf(a->error, sizeof a->error, "rings header: wrong magic, version or layout");
		return -1;
	}
	for (int i = 0; i < WBT_NUM_RINGS; i++)
		if (rh->ring_offset[i] + WBT_RING_ENTRIES + (uint64_t)rh->ring_size * sizeof(struct wbt_desc) > a->rings_size) {
			snprintf(a->error, sizeof a->error, "rings header: ring outside the memfd");
			return -1;
		}
	wbt__ring(a, &a->detour, rh, WBT_RING_DETOUR);
	wbt__ring(a, &a->revert, rh, WBT_RING_REVERT);
	wbt__ring(a, &a->alloc, rh, WBT_RING_ALLOC);
	wbt__ring(a, &a->dealloc, rh, WBT_RING_DEALLOC);
	return 0;
}

/* Asks for a tap; returns its handle (> 0) or -1 with a->error. */
static inline int64_t wbt_tap(struct wbt_app *a, const char *port, int kind, int32_t order) {
	uint8_t req[WBT_MAX_MESSAGE], resp[WBT_MAX_MESSAGE];
	size_t pl = strlen(port) > 64 ? 64 : strlen(port), len = wbt__header(req, WBT_MSG_TAP, ++a->seq), rlen;
	req[len] = (uint8_t)kind, req[len + 1] = req[len + 2] = req[len + 3] = 0;
	wbt__put32(req + len + 4, (uint32_t)order);
	wbt__put16(req + len + 8, (uint16_t)pl);
	memcpy(req + len + 10, port, pl);
	if (wbt__call(a, req, len + 10 + pl, resp, &rlen, NULL, 0) < 0)
		return -1;
	if (rlen != 24) {
		snprintf(a->error, sizeof a->error, "tap: bad response");
		return -1;
	}
	return wbt__get32(resp + 16);
}

/* Signals the daemon if it sleeps on ring r (call after wbt_ring_submit). */
static inline void wbt_kick(struct wbt_app *a, struct wbt_ring *r) {
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(r->flags, __ATOMIC_RELAXED) & WBT_RING_NEED_WAKEUP) {
		uint64_t one = 1;
		ssize_t w = write(a->daemon_efd, &one, sizeof one);
		(void)w;
	}
}

/* Sleeps until the daemon puts something on ring r (detour or alloc) or
 * timeout_ms passes. Returns entries ready. */
static inline uint32_t wbt_wait(struct wbt_app *a, struct wbt_ring *r, int timeout_ms) {
	uint32_t n = wbt_ring_peek(r, 1);
	if (n)
		return n;
	__atomic_store_n(r->flags, WBT_RING_NEED_WAKEUP, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(n = wbt_ring_peek(r, 1))) {
		struct pollfd p = {.fd = a->app_efd, .events = POLLIN};
		if (poll(&p, 1, timeout_ms) > 0) {
			uint64_t v;
			ssize_t rd = read(a->app_efd, &v, sizeof v);
			(void)rd;
		}
		n = wbt_ring_peek(r, 1);
	}
	__atomic_store_n(r->flags, 0, __ATOMIC_RELAXED);
	return n;
}

/* Disconnects; the daemon takes back every frame the application holds. */
static inline void wbt_close(struct wbt_app *a) {
	if (a->rings && a->rings != MAP_FAILED)
		munmap(a->rings, a->rings_size);
	if (a->pool && a->pool != MAP_FAILED)
		munmap(a->pool, a->pool_size);
	int *fds[] = {&a->sock, &a->pool_fd, &a->rings_fd, &a->app_efd, &a->daemon_efd};
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (*fds[i] >= 0)
			close(*fds[i]), *fds[i] = -1;
}

#endif /* WIREBOX_TAP_H */
