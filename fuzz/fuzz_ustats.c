/*
 * fuzz_ustats.c - libFuzzer target for the ustats reader: a ustats file comes
 * from a process that may have crashed mid-write, so any bytes must parse or
 * be rejected without reading out of bounds, and what was accepted must
 * account for every input byte.
 *
 * Random bytes almost never carry a valid CRC, which would keep the fuzzer at
 * the framing layer; so when the first byte is even the input is read as
 * magic-less records (type, varint length, payload) and re-framed with the
 * magic and correct CRCs, letting mutations reach the record parsers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "stats/ustats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t reframe(const uint8_t *in, size_t n, uint8_t *out)
{
	size_t o = 8, i = 0;

	memcpy(out, USTATS_MAGIC, 8);
	while (i < n) {
		uint64_t len = 0;
		size_t start = o, vl;
		uLong crc;
		out[o++] = in[i++];
		vl = ustats_get_varint(in + i, n - i, &len);
		if (!vl)
			break;
		i += vl;
		if (len > n - i)
			len = n - i;
		o += ustats_put_varint(out + o, len);
		memcpy(out + o, in + i, (size_t)len);
		o += (size_t)len;
		i += (size_t)len;
		crc = crc32(0L, out + start, (uInt)(o - start));
		for (int k = 0; k < 4; k++)
			out[o++] = (uint8_t)(crc >> (8 * k));
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ustats_data d;
	struct verr e;
	uint8_t *buf = NULL;
	const uint8_t *p = data;
	size_t len = size;

	if (size > 0 && !(data[0] & 1)) {
		buf = malloc(8 + size * 4 + 32); /* each record grows by at most its CRC: 3x */
		if (!buf)
			return 0;
		len = reframe(data + 1, size - 1, buf);
		p = buf;
	}
	if (ustats_parse(p, len, &d, &e) == 0) {
		if (d.good_bytes + d.ignored_bytes != len || d.ncounters > STATS_MAX_COUNTERS ||
		    d.nkstats > KSTAT_MAX || d.npaths > KSTAT_MAX_PATHS || d.nlocks > MXUSER_MAX_STATS)
			abort();
		for (unsigned i = 0; i < d.npaths; i++)
			if (d.path_parent[i] >= (int)i)
				abort();
	}
	free(buf);
	return 0;
}
