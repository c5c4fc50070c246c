/*
 * test_uart.c - the 16550A as the Linux 8250 driver and OpenSBI use it:
 * output bytes, THR-empty and received-data interrupts with IIR and LSR,
 * the receive FIFO and its overrun, the divisor latch, loopback, and output
 * to serial0.fileName appended.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "board/vm.h"
#include "devices/uart.h"
#include "devfake.h"

enum { THR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

static struct fake_board fb;
static struct device dev;
static int pipefd[2];

static int setup(void **state)
{
	struct dev_env env = fake_env(&fb, NULL, 1);
	struct verr e = { "" };
	memset(&dev, 0, sizeof(dev));
	dev.type = &dev_type_uart;
	assert_int_equal(dev_type_uart.create(&dev, &env, NULL, 0, &e), 0);
	dev_type_uart.reset(&dev);
	assert_int_equal(pipe2(pipefd, O_NONBLOCK), 0);
	uart_set_output(dev.priv, pipefd[1]);
	return 0;
}

static int teardown(void **state)
{
	dev_type_uart.destroy(&dev);
	close(pipefd[0]);
	close(pipefd[1]);
	return 0;
}

static void test_output(void **state)
{
	char buf[16] = {0};
	for (const char *p = "hello\n"; *p; p++) {
		assert_true(dev_rd(&dev, LSR, 1) & 0x20);  /* THRE before each byte */
		dev_wr(&dev, THR, 1, (uint8_t)*p);
	}
	uart_flush(dev.priv);
	assert_int_equal(read(pipefd[0], buf, sizeof(buf)), 6);
	assert_string_equal(buf, "hello\n");
	assert_int_equal(dev_rd(&dev, LSR, 1), 0x60);
	assert_false(fb.line[UART_IRQ]);                /* no interrupt enabled */
}

static void test_thre_interrupt(void **state)
{
	dev_wr(&dev, FCR, 1, 0x07);
	dev_wr(&dev, IER, 1, 0x02);                     /* THR empty now: fires */
	assert_true(fb.line[UART_IRQ]);
	assert_int_equal(dev_rd(&dev, IIR, 1), 0xc2);
	assert_false(fb.line[UART_IRQ]);                /* IIR read acknowledged it */
	assert_int_equal(dev_rd(&dev, IIR, 1), 0xc1);
	dev_wr(&dev, THR, 1, 'x');                      /* sent at once: fires again */
	assert_true(fb.line[UART_IRQ]);
	dev_wr(&dev, IER, 1, 0x00);
	assert_false(fb.line[UART_IRQ]);
	assert_int_equal(dev_rd(&dev, IER, 1), 0);
}

static void test_receive(void **state)
{
	struct uart *u = dev.priv;
	dev_wr(&dev, IER, 1, 0x01);
	assert_false(fb.line[UART_IRQ]);
	assert_int_equal(uart_rx_room(u), UART_FIFO_LEN);
	uart_rx_push(u, (const uint8_t *)"ab", 2);
	assert_true(fb.line[UART_IRQ]);
	assert_int_equal(dev_rd(&dev, IIR, 1) & 0x0f, 0x04);
	assert_int_equal(dev_rd(&dev, LSR, 1) & 0x01, 1);
	assert_int_equal(uart_rx_room(u), UART_FIFO_LEN - 2);
	assert_int_equal(dev_rd(&dev, THR, 1), 'a');
	assert_true(fb.line[UART_IRQ]);
	assert_int_equal(dev_rd(&dev, THR, 1), 'b');
	assert_false(fb.line[UART_IRQ]);
	assert_int_equal(dev_rd(&dev, LSR, 1) & 0x01, 0);
	assert_int_equal(dev_rd(&dev, THR, 1), 0);      /* empty FIFO reads 0 */
}

/* A BREAK is a NUL with LSR.BI, reported for its own FIFO slot only (SysRq). */
static void test_break(void **state)
{
	struct uart *u = dev.priv;
	dev_wr(&dev, IER, 1, 0x01);
	uart_rx_push(u, (const uint8_t *)"x", 1);
	assert_true(uart_rx_break(u));
	uart_rx_push(u, (const uint8_t *)"o", 1);
	assert_true(fb.line[UART_IRQ]);
	assert_int_equal(dev_rd(&dev, LSR, 1) & 0x11, 0x01);   /* 'x': DR, no BI */
	assert_int_equal(dev_rd(&dev, THR, 1), 'x');
	assert_int_equal(dev_rd(&dev, LSR, 1) & 0x11, 0x11);   /* the break: DR | BI */
	assert_int_equal(dev_rd(&dev, THR, 1), 0);
	assert_int_equal(dev_rd(&dev, LSR, 1) & 0x11, 0x01);   /* 'o' after it: no BI */
	assert_int_equal(dev_rd(&dev, THR, 1), 'o');
	assert_false(fb.line[UART_IRQ]);
	for (int i = 0; i < UART_FIFO_LEN; i++)
		uart_rx_push(u, (const uint8_t *)"z", 1);
	assert_false(uart_rx_break(u));                          /* no room */
}

static void test_overrun_and_fifo_clear(void **state)
{
	struct uart *u = dev.priv;
	uint8_t buf[20];
	for (int i = 0; i < 20; i++)
		buf[i] = (uint8_t)('A' + i);
	uart_rx_push(u, buf, 20);
	assert_int_equal(uart_rx_room(u), 0);
	assert_int_equal(dev_rd(&dev, LSR, 1) & 0x03, 0x03);   /* DR | OE */
	assert_int_equal(dev_rd(&dev, LSR, 1) & 0x02, 0);      /* OE clears on read */
	for (int i = 0; i < UART_FIFO_LEN; i++)
		assert_int_equal(dev_rd(&dev, THR, 1), 'A' + i);
	uart_rx_push(u, buf, 3);
	dev_wr(&dev, FCR, 1, 0x03);                              /* clear RX FIFO */
	assert_int_equal(dev_rd(&dev, LSR, 1) & 0x01, 0);
}

static void test_divisor_scratch_loopback(void **state)
{
	char c;
	dev_wr(&dev, LCR, 1, 0x83);
	dev_wr(&dev, 0, 1, 0x01);
	dev_wr(&dev, 1, 1, 0x02);
	assert_int_equal(dev_rd(&dev, 0, 1), 0x01);
	assert_int_equal(dev_rd(&dev, 1, 1), 0x02);
	dev_wr(&dev, LCR, 1, 0x03);
	assert_int_equal(dev_rd(&dev, IER, 1), 0);     /* divisor did not touch IER */
	uart_flush(dev.priv);
	assert_int_equal(read(pipefd[0], &c, 1), -1);  /* nor was anything sent */
	dev_wr(&dev, SCR, 1, 0x5a);
	assert_int_equal(dev_rd(&dev, SCR, 1), 0x5a);
	assert_int_equal(dev_rd(&dev, MSR, 1), 0xb0);
	dev_wr(&dev, MCR, 1, 0x10 | 0x03);             /* loopback, DTR, RTS */
	assert_int_equal(dev_rd(&dev, MSR, 1) & 0xf0, 0x30);
	dev_wr(&dev, THR, 1, 'L');
	assert_int_equal(dev_rd(&dev, LSR, 1) & 0x01, 1);
	assert_int_equal(dev_rd(&dev, THR, 1), 'L');
	uart_flush(dev.priv);
	assert_int_equal(read(pipefd[0], &c, 1), -1);
	/* Unknown offsets and widths are harmless. */
	assert_int_equal(dev_rd(&dev, 0x80, 1), 0);
	dev_wr(&dev, 0x80, 4, 0xffffffff);
}

static void test_serial_file(void **state)
{
	char path[] = "/tmp/vmx3-uart-XXXXXX", buf[32] = {0};
	int fd = mkstemp(path);
	struct vm_config *vc = calloc(1, sizeof(*vc));
	struct dev_env env = fake_env(&fb, NULL, 1);
	struct device d2 = { .type = &dev_type_uart };
	struct verr e = { "" };
	assert_true(fd >= 0 && vc);
	assert_int_equal(write(fd, "old:", 4), 4);
	snprintf(vc->serial_file, sizeof(vc->serial_file), "%s", path);
	assert_int_equal(dev_type_uart.create(&d2, &env, vc, 0, &e), 0);
	dev_wr(&d2, THR, 1, 'o');
	dev_wr(&d2, THR, 1, 'k');
	dev_type_uart.destroy(&d2);                    /* flushes */
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), 6);
	assert_string_equal(buf, "old:ok");
	close(fd);
	unlink(path);
	/* An unwritable path is an error naming the file. */
	snprintf(vc->serial_file, sizeof(vc->serial_file), "/nonexistent-dir/x.log");
	assert_true(dev_type_uart.create(&d2, &env, vc, 0, &e) < 0);
	assert_non_null(strstr(e.msg, "/nonexistent-dir/x.log"));
	free(vc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_break, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overrun_and_fifo_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_divisor_scratch_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serial_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
