/*
 * mp.c - message passing, the classic litmus test, over many iterations.
 * Harts pair up (2p writes, 2p+1 reads; an odd hart out only joins the
 * barriers; one hart alone plays both roles in turn).
 *   stream:    the writer stores data = i, 3i; fence w,w; flag = i for
 *              i = 1..N; the reader loads flag; fence r,r; data, and data
 *              must never be older than the flag, nor the flag go back.
 *   handshake: R rounds: the writer fills 8 words for round r, fence w,w,
 *              flag = r; the reader waits for r, fence r,r, checks all
 *              8 words, fence rw,w, ack = r; the writer waits for the ack
 *              (then fence r,rw) before it overwrites the words.
 */
#include "smp.h"

#define N 200000
#define R 300

struct chan {
	volatile unsigned long data[2];
	volatile unsigned long flag;
	volatile unsigned long words[8];
	volatile unsigned long hflag, ack;
} __attribute__((aligned(64)));

static struct chan chans[SMP_MAX_HARTS / 2];
static struct smp_barrier bar;

static unsigned long word(unsigned long r, unsigned long k)
{
	return r * 0x9e3779b97f4a7c15UL ^ (k << 56);
}

static void stream_write(struct chan *c)
{
	for (unsigned long i = 1; i <= N; i++) {
		c->data[0] = i;
		c->data[1] = 3 * i;
		fence_w_w();
		c->flag = i;
	}
}

static long stream_read(struct chan *c, unsigned long until)
{
	unsigned long last = 0, deadline = smp_deadline();

	for (unsigned long j = 0; last < until; j++) {
		unsigned long f = c->flag;

		fence_r_r();
		unsigned long d0 = c->data[0], d1 = c->data[1];
		if (f < last)
			return 20;
		if (d0 < f + SMP_MUTATE || d1 < 3 * f)
			return 21;
		last = f;
		if ((j & 255) == 0)
			smp_check_deadline(deadline);
	}
	return 0;
}

static long wait_eq(volatile unsigned long *p, unsigned long v)
{
	unsigned long deadline = smp_deadline();

	for (unsigned long j = 0; *p != v; j++)
		if ((j & 255) == 0)
			smp_check_deadline(deadline);
	return 0;
}

static void hs_write(struct chan *c, unsigned long r)
{
	for (unsigned long k = 0; k < 8; k++)
		c->words[k] = word(r, k);
	fence_w_w();
	c->hflag = r;
}

static long hs_read(struct chan *c, unsigned long r)
{
	wait_eq(&c->hflag, r);
	fence_r_r();
	for (unsigned long k = 0; k < 8; k++)
		if (c->words[k] != word(r, k))
			return 30;
	__asm__ volatile("fence rw, w" ::: "memory");
	c->ack = r;
	return 0;
}

static long run(unsigned long id)
{
	unsigned long n = smp_nharts;
	struct chan *c = &chans[id / 2];

	if (n == 1) {
		stream_write(c);
		RUN(stream_read(c, N));
		for (unsigned long r = 1; r <= R; r++) {
			hs_write(c, r);
			RUN(hs_read(c, r));
		}
		return 0;
	}
	if (id / 2 >= n / 2)
		return 0;       /* the odd hart out */
	if ((id & 1) == 0) {
		stream_write(c);
		for (unsigned long r = 1; r <= R; r++) {
			hs_write(c, r);
			wait_eq(&c->ack, r);
			fence_rw_rw();
		}
		return 0;
	}
	RUN(stream_read(c, N));
	for (unsigned long r = 1; r <= R; r++)
		RUN(hs_read(c, r));
	return 0;
}

void hart_main(unsigned long id)
{
	smp_barrier_wait(&bar);
	smp_fail(id, run(id));
	smp_barrier_wait(&bar);
}

int main(void)
{
	smp_barrier_wait(&bar);
	RUN(run(0));
	smp_barrier_wait(&bar);
	RUN(smp_first_error());
	for (unsigned long p = 0; p < (smp_nharts == 1 ? 1 : smp_nharts / 2); p++)
		CHECK(1, chans[p].flag == N && chans[p].ack == R);
	return 0;
}
