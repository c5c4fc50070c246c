/*
 * uart.h - an NS16550A UART at 0x10000000, PLIC source 10, as on QEMU virt.
 *
 * Transmission is instantaneous (THR is always empty again after a write);
 * output goes to a host fd chosen at creation (the terminal or
 * serial0.fileName).  The board feeds input bytes with uart_rx_push().
 */
#ifndef VMX_DEVICES_UART_H
#define VMX_DEVICES_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "device.h"

#define UART_BASE      0x10000000ULL
#define UART_SIZE      0x100ULL
#define UART_IRQ       10
#define UART_CLOCK_HZ  3686400u
#define UART_FIFO_LEN  16

struct uart_state {
	uint8_t rx_fifo[UART_FIFO_LEN];
	uint8_t rx_head, rx_count;
	uint8_t ier, fcr, lcr, mcr, lsr_err, scr, dll, dlm;
	uint8_t thre_pending;     /* THR-empty interrupt not yet acknowledged */
	uint8_t pad;
	uint16_t rx_brk;          /* bit i: FIFO slot i holds a break (NUL with LSR.BI) */
};

struct uart;

/* Free space in the receive FIFO; the board reads no more than that from its input. */
size_t uart_rx_room(const struct uart *u);
/* Queues received bytes; bytes beyond the FIFO are dropped with an overrun error. */
void uart_rx_push(struct uart *u, const uint8_t *buf, size_t n);
/*
 * Queues a line break condition (a NUL received with LSR.BI), as a terminal's
 * BREAK key; Linux's serial console takes a break followed by a key as a
 * magic SysRq.  Returns false when the FIFO has no room.
 */
bool uart_rx_break(struct uart *u);
/* Writes buffered output to the host fd. */
void uart_flush(struct uart *u);
/* Output waits for uart_flush; a hint readable without the device's lock. */
bool uart_tx_pending(const struct uart *u);
struct uart_state *uart_state(struct uart *u);
/* Uses fd for output (the board or a test); the uart does not close it. */
void uart_set_output(struct uart *u, int fd);

#endif
