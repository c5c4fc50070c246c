# center.mk - vmx3-center, the management server over several hostd
# (src/center/, docs/CENTER.md), built once into $(B)/host.

CENTER_SRCS := $(wildcard src/center/*.c)
CENTER_OBJS := $(patsubst src/center/%.c,$(B)/host/center.o/%.o,$(CENTER_SRCS))

$(B)/host/center.o/%.o: src/center/%.c
	@mkdir -p $(@D)
	@echo "  CC [host] $<"
	$(Q)$(CC) $(HOST_CFLAGS) -c $< -o $@

$(B)/host/vmx3-center: $(CENTER_OBJS) $(B)/host/libvmx3host.a
	@echo "  LD [host] $@"
	$(Q)$(CC) -o $@ $^ -lmicrohttpd -lcurl -ljansson -lsodium -lpthread

HOST_PROGS += $(B)/host/vmx3-center
-include $(wildcard $(B)/host/center.o/*.d)
