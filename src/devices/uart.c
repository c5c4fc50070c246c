/*
 * uart.c - NS16550A UART (see uart.h).
 *
 * Interrupt sources modelled: received data available (IER bit 0) and THR
 * empty (IER bit 1); line-status and modem-status interrupts never fire
 * because the line never errs and the modem lines never change outside
 * loopback.  Output is buffered on the host side and flushed by the board
 * after every run slice, so a busy console does not cost a syscall a byte.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libfdt.h>
#include "uart.h"
#include "../lib/fileutil.h"
#include "../board/vm.h"
#include "../lib/log.h"
#include "../stats/stats.h"
#include "../debug/dbg.h"

enum {
	REG_RBR_THR = 0, REG_IER = 1, REG_IIR_FCR = 2, REG_LCR = 3,
	REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};
#define LCR_DLAB     0x80
#define MCR_LOOP     0x10
#define LSR_DR       0x01
#define LSR_OE       0x02
#define LSR_BI       0x10
#define LSR_THRE     0x20
#define LSR_TEMT     0x40
#define IER_RDI      0x01
#define IER_THRI     0x02
#define IIR_NONE     0x01
#define IIR_THRI     0x02
#define IIR_RDI      0x04
#define IIR_FIFO     0xc0
#define FCR_ENABLE   0x01
#define FCR_CLR_RX   0x02

struct uart {
	struct uart_state st;
	struct dev_env env;
	unsigned irq;
	int out_fd;               /* -1: output discarded */
	bool own_fd;
	bool irq_level;
	size_t out_len;
	uint8_t out_buf[4096];
};

struct uart_state *uart_state(struct uart *u) { return &u->st; }

void uart_flush(struct uart *u)
{
	size_t done = 0;
	while (u->out_fd >= 0 && done < u->out_len) {
		ssize_t n = write(u->out_fd, u->out_buf + done, u->out_len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* A closed terminal or full disk must not stop the guest. */
			LOG_WRN("uart: output write failed (%s); discarding output", strerror(errno));
			u->out_fd = -1;
			break;
		}
		done += (size_t)n;
	}
	__atomic_store_n(&u->out_len, 0, __ATOMIC_RELAXED);
}

bool uart_tx_pending(const struct uart *u)
{
	return __atomic_load_n(&u->out_len, __ATOMIC_RELAXED) != 0;
}

void uart_set_output(struct uart *u, int fd)
{
	uart_flush(u);
	if (u->own_fd && u->out_fd >= 0)
		close(u->out_fd);
	u->out_fd = fd;
	u->own_fd = false;
}

static uint8_t uart_iir(const struct uart *u)
{
	uint8_t fifo = (u->st.fcr & FCR_ENABLE) ? IIR_FIFO : 0;
	if ((u->st.ier & IER_RDI) && u->st.rx_count)
		return fifo | IIR_RDI;
	if ((u->st.ier & IER_THRI) && u->st.thre_pending)
		return fifo | IIR_THRI;
	return fifo | IIR_NONE;
}

static void uart_update_irq(struct uart *u)
{
	bool level = !(uart_iir(u) & IIR_NONE);
	if (level != u->irq_level) {
		u->irq_level = level;
		u->env.irq(u->env.ctx, u->irq, level);
	}
}

/* Beta: the state invariants after every register access and every input. */
static void uart_check(const struct uart *u)
{
	DBG_CHECK("uart", dbg_uart_problem(&u->st, u->irq_level, u->out_len, sizeof(u->out_buf)));
}

static void rx_put(struct uart *u, uint8_t c)
{
	STAT_INC(UART_RX);
	if (u->st.rx_count == UART_FIFO_LEN) {
		u->st.lsr_err |= LSR_OE;
		return;
	}
	u->st.rx_fifo[(u->st.rx_head + u->st.rx_count) % UART_FIFO_LEN] = c;
	u->st.rx_count++;
}

size_t uart_rx_room(const struct uart *u) { return UART_FIFO_LEN - u->st.rx_count; }

bool uart_rx_break(struct uart *u)
{
	if ((u->st.mcr & MCR_LOOP) || u->st.rx_count == UART_FIFO_LEN)
		return false;
	unsigned slot = (u->st.rx_head + u->st.rx_count) % UART_FIFO_LEN;
	rx_put(u, 0);
	u->st.rx_brk |= (uint16_t)(1u << slot);
	uart_update_irq(u);
	uart_check(u);
	return true;
}

void uart_rx_push(struct uart *u, const uint8_t *buf, size_t n)
{
	/* In loopback the receiver hears only the transmitter. */
	if (u->st.mcr & MCR_LOOP)
		return;
	for (size_t i = 0; i < n; i++)
		rx_put(u, buf[i]);
	uart_update_irq(u);
	uart_check(u);
}

static void tx_byte(struct uart *u, uint8_t c)
{
	STAT_INC(UART_TX);
	if (u->st.mcr & MCR_LOOP) {
		rx_put(u, c);
		return;
	}
	if (u->out_fd < 0)
		return;
	u->out_buf[u->out_len] = c;
	__atomic_store_n(&u->out_len, u->out_len + 1, __ATOMIC_RELAXED);
	if (u->out_len == sizeof(u->out_buf))
		uart_flush(u);
}

static uint8_t uart_msr(const struct uart *u)
{
	if (u->st.mcr & MCR_LOOP) {
		uint8_t m = u->st.mcr;
		/* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
		return (uint8_t)(((m & 1) << 5) | ((m & 2) << 3) | ((m & 4) << 4) | ((m & 8) << 4));
	}
	return 0xb0;   /* DCD, DSR, CTS: a cable is attached and ready */
}

static int uart_read(void *dev, uint64_t off, unsigned len, uint64_t *val)
{
	struct uart *u = dev;
	uint8_t v = 0;
	switch (off) {
	case REG_RBR_THR:
		if (u->st.lcr & LCR_DLAB) {
			v = u->st.dll;
		} else if (u->st.rx_count) {
			v = u->st.rx_fifo[u->st.rx_head];
			u->st.rx_brk &= (uint16_t)~(1u << u->st.rx_head);
			u->st.rx_head = (u->st.rx_head + 1) % UART_FIFO_LEN;
			u->st.rx_count--;
		}
		break;
	case REG_IER:
		v = (u->st.lcr & LCR_DLAB) ? u->st.dlm : u->st.ier;
		break;
	case REG_IIR_FCR:
		v = uart_iir(u);
		/* Reading IIR acknowledges a THR-empty interrupt it reports. */
		if ((v & 0x0f) == IIR_THRI)
			u->st.thre_pending = 0;
		break;
	case REG_LCR:
		v = u->st.lcr;
		break;
	case REG_MCR:
		v = u->st.mcr;
		break;
	case REG_LSR:
		v = LSR_THRE | LSR_TEMT | (u->st.rx_count ? LSR_DR : 0) | u->st.lsr_err;
		if (u->st.rx_count && (u->st.rx_brk & (1u << u->st.rx_head)))
			v |= LSR_BI;
		u->st.lsr_err = 0;
		break;
	case REG_MSR:
		v = uart_msr(u);
		break;
	case REG_SCR:
		v = u->st.scr;
		break;
	default:
		break;
	}
	*val = v;
	uart_update_irq(u);
	uart_check(u);
	return 0;
}

static int uart_write(void *dev, uint64_t off, unsigned len, uint64_t val)
{
	struct uart *u = dev;
	uint8_t v = (uint8_t)val;
	switch (off) {
	case REG_RBR_THR:
		if (u->st.lcr & LCR_DLAB) {
			u->st.dll = v;
		} else {
			tx_byte(u, v);
			/* Sent at once, so THR is empty again. */
			u->st.thre_pending = 1;
		}
		break;
	case REG_IER:
		if (u->st.lcr & LCR_DLAB) {
			u->st.dlm = v;
		} else {
			/* Enabling the THR-empty interrupt while THR is empty raises it. */
			if ((v & IER_THRI) && !(u->st.ier & IER_THRI))
				u->st.thre_pending = 1;
			u->st.ier = v & 0x0f;
		}
		break;
	case REG_IIR_FCR:
		u->st.fcr = v & 0xc9;
		if (v & FCR_CLR_RX) {
			u->st.rx_count = u->st.rx_head = 0;
			u->st.rx_brk = 0;
		}
		break;
	case REG_LCR:
		u->st.lcr = v;
		break;
	case REG_MCR:
		u->st.mcr = v & 0x1f;
		break;
	case REG_SCR:
		u->st.scr = v;
		break;
	default:
		break;
	}
	uart_update_irq(u);
	/* Test knob (opt/obj): the line is left where IIR says it should not be. */
	if (dbg_fault(DBG_FAULT_UART) && off == REG_RBR_THR)
		u->irq_level = !u->irq_level;
	uart_check(u);
	return 0;
}

static const struct mmio_ops uart_mmio = { .read = uart_read, .write = uart_write };

static unsigned uart_count(const struct vm_config *vc) { return 1; }

static void uart_reset(struct device *d)
{
	struct uart *u = d->priv;
	memset(&u->st, 0, sizeof(u->st));
	uart_update_irq(u);
}

static int uart_create(struct device *d, const struct dev_env *env, const struct vm_config *vc,
		       unsigned idx, struct verr *e)
{
	struct uart *u = calloc(1, sizeof(*u));
	if (!u)
		return verr_set(e, -ENOMEM, "uart: out of memory");
	u->env = *env;
	u->irq = UART_IRQ;
	u->out_fd = STDOUT_FILENO;
	if (vc && vc->serial_file[0]) {
		/*
		 * Handed over by another vmx: the same open file, so no line is lost
		 * or doubled.  Else a regular file, or a character device such as
		 * /dev/null; never a FIFO that could block.
		 */
		u->out_fd = vm_config_dup_fd(vc, "serial0");
		if (u->out_fd == -ENOENT)
			u->out_fd = file_open_typed(vc->serial_file,
						    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644,
						    FILE_T_REG | FILE_T_CHR, e);
		else if (u->out_fd < 0)
			verr_set(e, u->out_fd, "handed-over fd: %s", strerror(-u->out_fd));
		if (u->out_fd < 0) {
			int err = u->out_fd;
			free(u);
			return verr_prefix(e, err, "serial0.fileName");
		}
		u->own_fd = true;
	}
	d->priv = u;
	d->base = UART_BASE;
	d->size = UART_SIZE;
	d->irq = UART_IRQ;
	return 0;
}

static void uart_destroy(struct device *d)
{
	struct uart *u = d->priv;
	if (!u)
		return;
	uart_flush(u);
	if (u->own_fd && u->out_fd >= 0)
		close(u->out_fd);
	free(u);
	d->priv = NULL;
}

static int uart_fdt(const struct device *d, void *fdt)
{
	int r = dev_fdt_begin(fdt, "serial", d->base, d->size);
	if (!r)
		r = dev_fdt_irq(fdt, d->irq);
	if (!r)
		r = fdt_property_u32(fdt, "clock-frequency", UART_CLOCK_HZ);
	if (!r)
		r = fdt_property_string(fdt, "compatible", "ns16550a");
	if (!r)
		r = fdt_end_node(fdt);
	return r ? -ENOSPC : 0;
}

static void *uart_state_ck(struct device *d, size_t *len)
{
	struct uart *u = d->priv;
	uart_flush(u);
	*len = sizeof(u->st);
	return &u->st;
}

static void uart_restored(struct device *d)
{
	struct uart *u = d->priv;
	u->irq_level = !(uart_iir(u) & IIR_NONE);
	u->env.irq(u->env.ctx, u->irq, u->irq_level);
}

/* Version 2: the first described by field (1 was the struct as one blob). */
static const struct ckpt_field uart_fields[] = {
	CKPT_FIELD(struct uart_state, rx_fifo),
	CKPT_FIELD(struct uart_state, rx_head),
	CKPT_FIELD(struct uart_state, rx_count),
	CKPT_FIELD(struct uart_state, ier),
	CKPT_FIELD(struct uart_state, fcr),
	CKPT_FIELD(struct uart_state, lcr),
	CKPT_FIELD(struct uart_state, mcr),
	CKPT_FIELD(struct uart_state, lsr_err),
	CKPT_FIELD(struct uart_state, scr),
	CKPT_FIELD(struct uart_state, dll),
	CKPT_FIELD(struct uart_state, dlm),
	CKPT_FIELD(struct uart_state, thre_pending),
	CKPT_FIELD(struct uart_state, rx_brk),
};

/* The console file, when the UART opened one (serial0.fileName). */
static unsigned uart_host_fds(struct device *d, struct dev_host_fd *out, unsigned max)
{
	struct uart *u = d->priv;
	if (!u->own_fd || u->out_fd < 0 || max < 1)
		return 0;
	snprintf(out[0].name, sizeof(out[0].name), "serial%u", d->idx);
	out[0].fd = u->out_fd;
	return 1;
}

const struct device_type dev_type_uart = {
	.name = "uart",
	.count = uart_count,
	.create = uart_create,
	.destroy = uart_destroy,
	.reset = uart_reset,
	.fdt_node = uart_fdt,
	.mmio = &uart_mmio,
	.state = uart_state_ck,
	.state_version = 2,
	.state_fields = uart_fields,
	.nstate_fields = VMX_ARRAY_SIZE(uart_fields),
	.host_fds = uart_host_fds,
	.restored = uart_restored,
};
