/* Names of the IPC messages and child states, for log lines and rxmppctl. */
#include "proto.h"

static const char *const proto_type_names[PROTO_TYPE_END] = {
    [PROTO_HELLO] = "HELLO",
    [PROTO_CONFIG] = "CONFIG",
    [PROTO_LISTEN_SOCKET] = "LISTEN_SOCKET",
    [PROTO_CONFIG_END] = "CONFIG_END",
    [PROTO_READY] = "READY",
    [PROTO_PEER_CHANNEL] = "PEER_CHANNEL",
    [PROTO_PEER_HELLO] = "PEER_HELLO",
    [PROTO_CTL_STATUS] = "CTL_STATUS",
    [PROTO_CTL_STATUS_REPLY] = "CTL_STATUS_REPLY",
    [PROTO_CTL_RELOAD] = "CTL_RELOAD",
    [PROTO_CTL_RESULT] = "CTL_RESULT",
};

const char *proto_type_name(uint16_t type)
{
	if (type < PROTO_TYPE_END && proto_type_names[type] != 0)
		return proto_type_names[type];
	return "UNKNOWN";
}

static const char *const proto_child_state_names[] = {
    [PROTO_CHILD_STARTING] = "starting", [PROTO_CHILD_READY] = "ready",
    [PROTO_CHILD_BACKOFF] = "backoff",	 [PROTO_CHILD_THROTTLED] = "throttled",
    [PROTO_CHILD_FAILED] = "failed",	 [PROTO_CHILD_STOPPED] = "stopped",
};

const char *proto_child_state_name(uint32_t state)
{
	if (state < sizeof(proto_child_state_names) / sizeof(proto_child_state_names[0]))
		return proto_child_state_names[state];
	return "unknown";
}
