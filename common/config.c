/* SPDX-License-Identifier: MIT */
/*
 * The pure helpers over the configuration structure that processes other
 * than the supervisor need (the elector derives its own cluster address).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

bool config_address_is_interface(const char *entry)
{
	unsigned char probe[sizeof(struct in6_addr)];
	return strcmp(entry, "any") != 0 && inet_pton(AF_INET, entry, probe) != 1 &&
	       inet_pton(AF_INET6, entry, probe) != 1;
}

int config_cluster_address(const struct config *cfg, char *out, size_t size)
{
	if (cfg->cluster.address[0] != '\0') {
		snprintf(out, size, "%s", cfg->cluster.address);
		return 0;
	}
	const char *first = NULL;
	for (uint32_t i = 0; i < cfg->listen.address_count && first == NULL; i++) {
		const char *entry = cfg->listen.addresses[i];
		if (strcmp(entry, "any") != 0 && !config_address_is_interface(entry))
			first = entry;
	}
	if (first == NULL)
		return -1;
	if (strchr(first, ':') != NULL)
		snprintf(out, size, "[%s]:%u", first, cfg->cluster.port);
	else
		snprintf(out, size, "%s:%u", first, cfg->cluster.port);
	return 0;
}
