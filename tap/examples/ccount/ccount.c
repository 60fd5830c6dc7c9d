/* ccount: counts the frames of an input tap and reverts every one, using
 * only wirebox_tap.h. Prints the count every second and on SIGTERM.
 *
 *   cc -O2 -I tap/include -o ccount tap/examples/ccount/ccount.c
 *   ccount /run/wirebox/tap.sock wb0
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "wirebox_tap.h"

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: ccount SOCKET PORT\n");
		return 2;
	}
	struct wbt_app a;
	if (wbt_connect(&a, argv[1], "ccount", 0) < 0) {
		fprintf(stderr, "ccount: %s\n", a.error);
		return 1;
	}
	int64_t h = wbt_tap(&a, argv[2], WBT_TAP_INPUT, 0);
	if (h < 0) {
		fprintf(stderr, "ccount: %s\n", a.error);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("tapping %s\n", argv[2]);
	fflush(stdout);
	unsigned long long count = 0, bytes = 0;
	time_t last = time(NULL);
	while (!stop) {
		uint32_t n = wbt_wait(&a, &a.detour, 100);
		n = wbt_ring_peek(&a.detour, 256);
		uint32_t done = 0;
		while (done < n) {
			uint32_t k = wbt_ring_reserve(&a.revert, n - done);
			for (uint32_t i = 0; i < k; i++) {
				struct wbt_desc d = wbt_ring_entry(&a.detour, done + i);
				if (!wbt_data(&a, d)) {
					fprintf(stderr, "ccount: entry outside the pool\n");
					return 1;
				}
				bytes += d.len;
				*wbt_ring_slot(&a.revert, i) = d; /* same tap, same data: continue */
			}
			wbt_ring_submit(&a.revert, k);
			wbt_kick(&a, &a.revert);
			done += k;
		}
		wbt_ring_release(&a.detour, n);
		count += n;
		if (time(NULL) != last) {
			last = time(NULL);
			printf("frames %llu bytes %llu\n", count, bytes);
			fflush(stdout);
		}
	}
	printf("frames %llu bytes %llu\n", count, bytes);
	wbt_close(&a);
	return 0;
}
