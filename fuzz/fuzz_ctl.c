/*
 * fuzz_ctl.c - libFuzzer target for the vmx control-socket protocol: bytes a
 * client sends go through the real request layer (ctl.c is compiled in: line
 * assembly, JSON parsing, version check, command table and every handler)
 * against a stand-in machine.  Properties: no crash, one reply per complete
 * line, every reply one JSON object with "v":1 and a boolean "ok" (an error
 * string when not ok), and a line over the limit closes the client.
 *
 * The first input byte picks the machine's power state and how the input is
 * cut into reads (1..64 bytes, or all at once), so both the handlers that
 * need a running VM and partial-line assembly are reached.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* A 256-byte line limit instead of 64 KiB: the same code path, reached by short inputs. */
#define CTL_MAX_LINE 256
#include "../src/vmx/ctl.c"

/* The vmx program's and the board's entry points the handlers call. */
static struct vmx g_x;

uint64_t vmx_now_ns(void) { return 1000000000ull; }

/* The hand-over needs a second vmx: its commands answer as if none listened. */
struct json_t *handover_ctl_start(struct vmx *x, struct json_t *req, const char **err)
{
	*err = json_string_value(json_object_get(req, "peer")) ? "cannot connect (fuzz target)"
							      : "field \"peer\" is missing";
	return NULL;
}

struct json_t *handover_ctl_status(struct vmx *x, struct json_t *req, const char **err)
{
	return json_pack("{s:s, s:s}", "state", "none", "role", "outgoing");
}

/* Live migration needs a receiver on another host: its commands answer as if none listened. */
struct json_t *migration_ctl_start(struct vmx *x, struct json_t *req, const char **err)
{
	*err = json_string_value(json_object_get(req, "peer")) ? "cannot connect (fuzz target)"
							      : "field \"peer\" is missing";
	return NULL;
}

struct json_t *migration_ctl_status(struct vmx *x, struct json_t *req, const char **err)
{
	return json_pack("{s:s, s:s}", "state", "none", "role", "outgoing");
}

struct json_t *migration_ctl_resolve(struct vmx *x, struct json_t *req, const char **err)
{
	*err = "no migration is in doubt";
	return NULL;
}

const char *vmx_power_name(int state)
{
	static const char *const names[] = { "starting", "poweredOn", "stopping", "poweredOff" };
	return state >= 0 && state < 4 ? names[state] : "unknown";
}

const char *vmx_suspend_name(int state)
{
	static const char *const names[] = { "none", "requested", "running", "done", "failed",
					     "cancelled" };
	return state >= 0 && state < 6 ? names[state] : "unknown";
}

void vm_get_status(struct vm *vm, struct vm_status *st)
{
	memset(st, 0, sizeof(*st));
	st->instret = 12345;
	st->numvcpus = 1;
	st->mem_size = 64u << 20;
}

/* The main thread's side of stop requests, done at once: a hash or a suspend attempt ends. */
void vm_request_stop(struct vm *vm)
{
	if (atomic_load(&g_x.hash_req)) {
		mxuser_lock(&g_x.suspend_lock);
		g_x.hash_rc = 0;
		snprintf(g_x.hash_hex, sizeof(g_x.hash_hex), "%064d", 0);
		g_x.hash_ready = true;
		mxuser_cond_broadcast(&g_x.hash_cond);
		mxuser_unlock(&g_x.suspend_lock);
		atomic_store(&g_x.hash_req, 0);
	}
	if (atomic_load(&g_x.suspend_state) == VMX_SUSPEND_REQUESTED)
		atomic_store(&g_x.suspend_state, VMX_SUSPEND_FAILED);
}

void vm_request_shutdown(struct vm *vm) {}

struct out {
	size_t replies;
};

static void check_reply(void *arg, const char *line, size_t len)
{
	struct out *o = arg;
	json_error_t jerr;
	json_t *r = json_loadb(line, len, 0, &jerr);
	if (!r || !json_is_object(r) || memchr(line, '\n', len))
		abort();
	if (json_integer_value(json_object_get(r, "v")) != 1 || !json_is_boolean(json_object_get(r, "ok")))
		abort();
	if (!json_is_true(json_object_get(r, "ok")) && !json_is_string(json_object_get(r, "error")))
		abort();
	json_decref(r);
	o->replies++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct out o = { 0 };
	size_t newlines = 0, pos = 0, chunk;
	struct ctl_reader *rd;
	int rc = 0;

	if (!init) {
		log_level_cur = LOG_ERROR;   /* the handlers' info lines would be most of the work */
		mxuser_lock_init(&g_x.suspend_lock, "vmxSuspend", MXUSER_RANK_CTL);
		mxuser_cond_init(&g_x.hash_cond, "vmxHash");
		snprintf(g_x.vmx_path, sizeof(g_x.vmx_path), "/fuzz/vm.vmx");
		init = true;
	}
	if (size < 1)
		return 0;
	atomic_store(&g_x.power_state, data[0] & 1 ? VMX_POWER_ON : VMX_POWER_OFF);
	atomic_store(&g_x.suspend_state, VMX_SUSPEND_NONE);
	chunk = (data[0] >> 1) % 65;   /* 0: everything in one read */
	data++;
	size--;
	rd = ctl_reader_new();
	if (!rd)
		return 0;
	while (pos < size && rc >= 0) {
		size_t n = chunk ? chunk : size;
		if (n > size - pos)
			n = size - pos;
		const uint8_t *nl;
		for (const uint8_t *p = data + pos; (nl = memchr(p, '\n', (size_t)(data + pos + n - p)));
		     p = nl + 1)
			newlines++;
		rc = ctl_reader_feed(rd, &g_x, (const char *)data + pos, n, check_reply, &o);
		pos += n;
	}
	/* Every complete line got exactly one reply; a closed client got one more (the error). */
	if (rc >= 0 && o.replies != newlines)
		abort();
	if (rc < 0 && (o.replies == 0 || o.replies > newlines + 1))
		abort();
	ctl_reader_free(rd);
	return 0;
}
