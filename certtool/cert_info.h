/* SPDX-License-Identifier: MIT */
/*
 * What an administrator needs to see of a certificate, key or request, as
 * text: names, alternative names, validity, key type and size, SHA-256
 * fingerprints.  Never any private key material.
 */
#ifndef RXMPP_CERT_INFO_H
#define RXMPP_CERT_INFO_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* "CN=xmpp.example.com,O=Example" (RFC 2253 order, UTF-8 kept). */
void cert_name_text(const X509_NAME *name, char *out, size_t size);
void cert_subject_text(const X509 *cert, char *out, size_t size);
void cert_issuer_text(const X509 *cert, char *out, size_t size);
/* "DNS:a.example, IP:192.0.2.1", or "" without subjectAltName. */
void cert_sans_text(const GENERAL_NAMES *names, char *out, size_t size);
void cert_cert_sans_text(const X509 *cert, char *out, size_t size);
/* The subjectAltName of a request, or NULL; the caller frees it. */
GENERAL_NAMES *cert_req_sans(const X509_REQ *req);

time_t cert_not_before(const X509 *cert);
time_t cert_not_after(const X509 *cert);
/* "2026-11-23 12:00:00 UTC" */
void cert_time_text(time_t t, char *out, size_t size);
/* "RSA 2048", "EC P-256", "ED25519" */
void cert_key_text(const EVP_PKEY *key, char *out, size_t size);
/* Colon-separated SHA-256 of the DER certificate. */
void cert_fingerprint(const X509 *cert, char *out, size_t size);
/* SHA-256 of the public key (SubjectPublicKeyInfo): the same for a key,
 * its certificate and its request. */
void cert_key_fingerprint(const EVP_PKEY *key, char *out, size_t size);

bool cert_self_signed(const X509 *cert);
bool cert_is_ca(const X509 *cert);
/* Whether `key` is the private half of the public key `pub`. */
bool cert_key_matches(const EVP_PKEY *key, const EVP_PKEY *pub);

#endif
