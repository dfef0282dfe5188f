/* SPDX-License-Identifier: MIT */
/*
 * The XMPP side of a load session, parsed with expat: a client goes
 * through STARTTLS, SASL (SCRAM-SHA-1, RFC 5802, or PLAIN), bind and
 * initial presence; a component through TLS from the first byte and the
 * XEP-0114 handshake.  Once ready, messages and iq reach the scenario.
 * With --sm a client enables stream management after bind and resumes
 * its session on its next connection (load_sm.c).
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/scram.h"
#include "load.h"

#define HEADER                                                                                     \
	"<?xml version='1.0'?><stream:stream to='%s' xmlns='%s' "                                  \
	"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
#define ACCOUNTS_CACHED 65536

static const struct load_options *O;

/* RFC 5802 lets a client keep the salted password for a salt it has seen,
 * and the keys made from it (ClientKey, StoredKey, ServerKey): the
 * generator's CPU goes to the load, not to PBKDF2 and three HMACs again
 * and again. */
struct salted {
	char salt[64];
	unsigned iterations;
	unsigned char client_key[20], stored_key[20], server_key[20];
};
static struct salted *salted_cache;

static const char *local_name(const char *name)
{
	const char *colon = strrchr(name, ':');
	return colon ? colon + 1 : name;
}

static const char *attribute(const char **attrs, const char *name)
{
	for (int i = 0; attrs[i] != NULL; i += 2) {
		if (strcmp(local_name(attrs[i]), name) == 0)
			return attrs[i + 1];
	}
	return NULL;
}

static void send_header(struct session *s)
{
	if (s->component) {
		char to[300];
		snprintf(to, sizeof(to), "%s", s->jid);
		load_sendf(s, HEADER, to, "jabber:component:accept");
	} else {
		load_sendf(s, HEADER, O->domain, "jabber:client");
	}
}

static void send_auth(struct session *s, unsigned account)
{
	char user[128];
	snprintf(user, sizeof(user), "%s%u", O->user_prefix, account);
	char raw[512], encoded[800];
	if (O->plain) {
		int n = snprintf(raw, sizeof(raw), "%c%s%c%s", 0, user, 0, O->password);
		scram_base64_encode((unsigned char *)raw, (size_t)n, encoded);
		load_sendf(
		    s, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>",
		    encoded);
		return;
	}
	unsigned char random[18];
	if (RAND_bytes(random, sizeof(random)) != 1) {
		fprintf(stderr, "rxmpp-load: no random bytes for a SCRAM nonce\n");
		exit(1);
	}
	scram_base64_encode(random, sizeof(random), s->nonce);
	snprintf(s->first_bare, sizeof(s->first_bare), "n=%s,r=%s", user, s->nonce);
	int n = snprintf(raw, sizeof(raw), "n,,%s", s->first_bare);
	scram_base64_encode((unsigned char *)raw, (size_t)n, encoded);
	load_sendf(
	    s, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>%s</auth>",
	    encoded);
}

static const char *scram_field(const char *message, char key, char *out, size_t size)
{
	for (const char *p = message; p != NULL && *p;
	     p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (p[0] == key && p[1] == '=') {
			size_t n = strcspn(p + 2, ",");
			if (n >= size)
				return NULL;
			memcpy(out, p + 2, n);
			out[n] = '\0';
			return out;
		}
	}
	return NULL;
}

static void answer_challenge(struct session *s)
{
	char first[512], nonce[128], salt64[64], iter[16];
	int n =
	    scram_base64_decode(s->text, s->text_len, (unsigned char *)first, sizeof(first) - 1);
	if (n <= 0) {
		load_close(s, "bad SCRAM challenge");
		return;
	}
	first[n] = '\0';
	if (!scram_field(first, 'r', nonce, sizeof(nonce)) ||
	    !scram_field(first, 's', salt64, sizeof(salt64)) ||
	    !scram_field(first, 'i', iter, sizeof(iter)) ||
	    strncmp(nonce, s->nonce, strlen(s->nonce)) != 0) {
		load_close(s, "bad SCRAM challenge");
		return;
	}
	unsigned iterations = (unsigned)strtoul(iter, NULL, 10);
	struct salted *cached = &salted_cache[s->account % ACCOUNTS_CACHED];
	if (strcmp(cached->salt, salt64) != 0 || cached->iterations != iterations) {
		unsigned char salt[64], password[20];
		int salt_len = scram_base64_decode(salt64, strlen(salt64), salt, sizeof(salt));
		if (salt_len <= 0 ||
		    PKCS5_PBKDF2_HMAC_SHA1(O->password, (int)strlen(O->password), salt, salt_len,
					   (int)iterations, 20, password) != 1) {
			load_close(s, "bad SCRAM salt");
			return;
		}
		scram_hmac(SCRAM_SHA_1, password, 20, "Client Key", 10, cached->client_key);
		scram_digest(SCRAM_SHA_1, cached->client_key, 20, cached->stored_key);
		scram_hmac(SCRAM_SHA_1, password, 20, "Server Key", 10, cached->server_key);
		snprintf(cached->salt, sizeof(cached->salt), "%s", salt64);
		cached->iterations = iterations;
	}
	unsigned char signature[20], proof[20];
	char without_proof[200], auth_message[1024];
	snprintf(without_proof, sizeof(without_proof), "c=biws,r=%s", nonce);
	int len = snprintf(auth_message, sizeof(auth_message), "%s,%s,%s", s->first_bare, first,
			   without_proof);
	scram_hmac(SCRAM_SHA_1, cached->stored_key, 20, auth_message, (size_t)len, signature);
	for (int i = 0; i < 20; i++)
		proof[i] = cached->client_key[i] ^ signature[i];
	scram_hmac(SCRAM_SHA_1, cached->server_key, 20, auth_message, (size_t)len,
		   s->server_signature);
	char proof64[40], final[300], final64[420];
	scram_base64_encode(proof, 20, proof64);
	int m = snprintf(final, sizeof(final), "%s,p=%s", without_proof, proof64);
	scram_base64_encode((unsigned char *) final, (size_t)m, final64);
	load_sendf(s, "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>", final64);
}

static bool server_signature_ok(struct session *s)
{
	if (O->plain)
		return true;
	char final[128], v[64];
	unsigned char signature[32];
	int n =
	    scram_base64_decode(s->text, s->text_len, (unsigned char *) final, sizeof(final) - 1);
	if (n <= 0)
		return false;
	final[n] = '\0';
	return scram_field(final, 'v', v, sizeof(v)) &&
	       scram_base64_decode(v, strlen(v), signature, sizeof(signature)) == 20 &&
	       memcmp(signature, s->server_signature, 20) == 0;
}

static void send_bind(struct session *s)
{
	load_sendf(s,
		   "<iq type='set' id='bind'><bind "
		   "xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r%u</resource>"
		   "</bind></iq>",
		   s->index);
}

static void ready(struct session *s)
{
	s->state = SESSION_READY;
	s->ready_ns = load_now_ns();
	if (s->events->ready != NULL)
		s->events->ready(s);
}

/* A top-level element ended: the protocol moves on. */
static void top_level_done(struct session *s)
{
	const char *name = s->top;
	if (strcmp(name, "error") == 0) {
		char why[300];
		snprintf(why, sizeof(why), "stream error: %.*s", (int)s->text_len, s->text);
		load_close(s, why);
		return;
	}
	if (s->sm != NULL) {
		switch (load_sm_element(s, name)) {
		case LOAD_SM_NONE:
			break;
		case LOAD_SM_HANDLED:
			return;
		case LOAD_SM_READY:
			ready(s);
			return;
		case LOAD_SM_REBIND:
			send_bind(s);
			return;
		}
	}
	switch (s->state) {
	case SESSION_STREAM:
		if (strcmp(name, "features") == 0) {
			load_sendf(s, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
			s->state = SESSION_STARTTLS;
		}
		break;
	case SESSION_STARTTLS:
		if (strcmp(name, "proceed") == 0 && load_start_tls(s) == -1)
			load_close(s, "cannot start TLS");
		break;
	case SESSION_AUTH:
		if (strcmp(name, "features") == 0) {
			send_auth(s, s->account);
		} else if (strcmp(name, "challenge") == 0) {
			answer_challenge(s);
		} else if (strcmp(name, "success") == 0) {
			if (!server_signature_ok(s)) {
				load_close(s, "the server's SCRAM signature is wrong");
				return;
			}
			s->state = SESSION_BIND;
			s->restart = true;
		} else if (strcmp(name, "failure") == 0) {
			load_close(s, "authentication failed");
		}
		break;
	case SESSION_BIND:
		if (strcmp(name, "features") == 0) {
			if (load_sm_resuming(s))
				load_sm_resume(s);
			else
				send_bind(s);
		} else if (strcmp(name, "iq") == 0) {
			if (s->text_len == 0 || s->text_len >= sizeof(s->jid)) {
				load_close(s, "bind failed");
				return;
			}
			memcpy(s->jid, s->text, s->text_len);
			s->jid[s->text_len] = '\0';
			if (s->sm == NULL) {
				load_sendf(s, "<presence/>");
				ready(s);
				break;
			}
			/* Ready once <enabled/> comes; the presence is numbered. */
			load_sm_bound(s);
			load_sm_stanzaf(s, "<presence/>");
		}
		break;
	case SESSION_COMPONENT:
		if (strcmp(name, "handshake") == 0)
			ready(s);
		break;
	case SESSION_READY:
		if (strcmp(name, "message") == 0 || strcmp(name, "iq") == 0 ||
		    strcmp(name, "presence") == 0)
			load_sm_received(s);
		/* An iq error is a bounce too, not the answer the flow waits for. */
		if ((strcmp(name, "message") == 0 || strcmp(name, "iq") == 0) &&
		    strcmp(s->type, "error") == 0) {
			if (s->events->bounced != NULL)
				s->events->bounced(s);
		} else if (strcmp(name, "message") == 0 && s->events->stanza != NULL) {
			s->text[s->text_len] = '\0';
			s->events->stanza(s, false, s->from, s->text);
		} else if (strcmp(name, "iq") == 0 && s->events->stanza != NULL) {
			s->events->stanza(s, true, s->from, s->id);
		}
		break;
	default:
		break;
	}
}

static void on_start(void *arg, const char *name, const char **attrs)
{
	struct session *s = arg;
	const char *local = local_name(name);
	if (s->depth == 0 && s->state == SESSION_COMPONENT) {
		/* XEP-0114: SHA-1 of the stream id and the secret, in hex. */
		const char *id = attribute(attrs, "id");
		char input[512], hex[41];
		unsigned char digest[20];
		int n = snprintf(input, sizeof(input), "%s%s", id ? id : "", O->bridge_secret);
		scram_digest(SCRAM_SHA_1, input, (size_t)n, digest);
		for (int i = 0; i < 20; i++)
			snprintf(hex + 2 * i, 3, "%02x", digest[i]);
		load_sendf(s, "<handshake>%s</handshake>", hex);
	} else if (s->depth == 1) {
		snprintf(s->top, sizeof(s->top), "%s", local);
		const char *from = attribute(attrs, "from"), *id = attribute(attrs, "id");
		snprintf(s->from, sizeof(s->from), "%s", from ? from : "");
		snprintf(s->id, sizeof(s->id), "%s", id ? id : "");
		const char *type = attribute(attrs, "type");
		snprintf(s->type, sizeof(s->type), "%s", type ? type : "");
		const char *h = attribute(attrs, "h");
		snprintf(s->h, sizeof(s->h), "%s", h ? h : "");
		s->text_len = 0;
	}
	/* A stream error's condition: the reason the session reports. */
	if (s->depth == 2 && strcmp(s->top, "error") == 0 && strcmp(local, "text") != 0 &&
	    s->text_len == 0) {
		size_t n =
		    strlen(local) < sizeof(s->text) - 1 ? strlen(local) : sizeof(s->text) - 1;
		memcpy(s->text, local, n);
		s->text_len = n;
	}
	/* Text worth keeping: a message body, SASL data, the bound JID. */
	s->in_body = s->depth >= 2 && (strcmp(local, "body") == 0 || strcmp(local, "jid") == 0);
	if (s->depth == 1 && (strcmp(local, "challenge") == 0 || strcmp(local, "success") == 0))
		s->in_body = true;
	s->depth++;
}

static void on_end(void *arg, const char *name)
{
	struct session *s = arg;
	(void)name;
	s->depth--;
	s->in_body = false;
	if (s->depth == 1)
		top_level_done(s);
}

static void on_text(void *arg, const char *text, int len)
{
	struct session *s = arg;
	if (!s->in_body || s->text_len + (size_t)len >= sizeof(s->text))
		return;
	memcpy(s->text + s->text_len, text, (size_t)len);
	s->text_len += (size_t)len;
}

static void start_parser(struct session *s)
{
	if (s->parser == NULL)
		s->parser = XML_ParserCreate("UTF-8");
	else
		XML_ParserReset(s->parser, "UTF-8");
	XML_SetUserData(s->parser, s);
	XML_SetElementHandler(s->parser, on_start, on_end);
	XML_SetCharacterDataHandler(s->parser, on_text);
	s->depth = 0;
}

static void common_init(struct session *s, const struct load_options *o, unsigned index,
			const struct session_events *events, void *arg)
{
	O = o;
	if (salted_cache == NULL)
		salted_cache = calloc(ACCOUNTS_CACHED, sizeof(*salted_cache));
	SSL_SESSION *resume = s->resume;
	struct load_sm *sm = s->sm;
	char jid[sizeof(s->jid)];
	memcpy(jid, s->jid, sizeof(jid));
	memset(s, 0, sizeof(*s));
	s->resume = resume;
	s->sm = sm;
	if (sm != NULL) {
		/* Its peers keep sending to it while it is away. */
		memcpy(s->jid, jid, sizeof(jid));
		load_sm_reconnecting(s);
	}
	s->fd = -1;
	s->index = index;
	s->events = events;
	s->arg = arg;
	start_parser(s);
}

void xmpp_session_init(struct session *s, const struct load_options *o, unsigned index,
		       unsigned account, uint16_t port, const struct session_events *events,
		       void *arg)
{
	common_init(s, o, index, events, arg);
	s->account = account;
	s->port = port;
}

void xmpp_component_init(struct session *s, const struct load_options *o, unsigned index,
			 const struct session_events *events, void *arg)
{
	common_init(s, o, index, events, arg);
	s->component = true;
	s->tls_direct = !o->component_plain;
	s->port = o->component_port;
	snprintf(s->jid, sizeof(s->jid), "%s%u.%s", o->bridge_prefix, index, o->domain);
}

void xmpp_connected(struct session *s)
{
	if (s->tls_direct) {
		if (load_start_tls(s) == -1)
			load_close(s, "cannot start TLS");
		return;
	}
	/* A plain component speaks XEP-0114 at once; a client asks for TLS. */
	s->state = s->component ? SESSION_COMPONENT : SESSION_STREAM;
	send_header(s);
}

void xmpp_tls_ready(struct session *s)
{
	start_parser(s);
	s->state = s->component ? SESSION_COMPONENT : SESSION_AUTH;
	send_header(s);
}

/* The parser running now: a session closed from inside one of its
 * callbacks must not free it under expat's feet (nor may one re-opened by
 * its closed event reuse it). */
static XML_Parser parsing;
static bool parsing_orphaned;

void xmpp_received(struct session *s, const char *data, size_t len)
{
	XML_Parser parser = s->parser;
	parsing = parser;
	parsing_orphaned = false;
	enum XML_Status status = XML_Parse(parser, data, (int)len, 0);
	parsing = NULL;
	if (parsing_orphaned) {
		XML_ParserFree(parser);
		return;
	}
	if (status != XML_STATUS_OK) {
		char why[200];
		snprintf(why, sizeof(why), "XML from the server: %s",
			 XML_ErrorString(XML_GetErrorCode(s->parser)));
		load_close(s, why);
		return;
	}
	if (s->restart && s->state != SESSION_CLOSED) {
		/* After SASL success both sides start a new stream. */
		s->restart = false;
		start_parser(s);
		send_header(s);
	}
}

void xmpp_free(struct session *s)
{
	if (s->parser != NULL && s->parser == parsing) {
		XML_StopParser(s->parser, XML_FALSE);
		parsing_orphaned = true;
	} else if (s->parser != NULL) {
		XML_ParserFree(s->parser);
	}
	s->parser = NULL;
}
