/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C (Castagnoli), the checksum of storage formats (iSCSI, ext4
 * metadata, etcd's WAL): it catches every burst of 32 bits or fewer.  The
 * records of the elector's log and of the accounts journal carry it.
 */
#ifndef RXMPP_CRC32C_H
#define RXMPP_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues `crc` (0 to start) over `n` bytes at `p`. */
uint32_t crc32c_update(uint32_t crc, const uint8_t *p, size_t n);

#endif
