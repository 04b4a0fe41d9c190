/* The least a Pusher server can do for the wrk-driven scenarios (http, channels), to show the
 * load generator's ceiling: one thread, epoll, no signature checks, no JSON parser.
 *
 *   POST /apps/<id>/events        publish {"name","channel","data"} to that channel, answer {}
 *   POST anything else            answer {} (batch_events is answered but not published)
 *   GET  /ready                   OK
 *   GET  /app/<key> (WebSocket)   connection_established; pusher:subscribe to any channel
 *
 * Built by bench/servers.py at run time: gcc -O2 -o trivial_http trivial_http.c
 * Usage: trivial_http PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 1048576
#define MAX_JOINED 8
#define READ_CHUNK 65536

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

typedef struct channel channel_t;

typedef struct {
    int fd, ws, close_after;
    buf_t in, out;
    int joined;
    channel_t *channels[MAX_JOINED];
} conn_t;

struct channel {
    char *name;
    size_t name_len;
    int *fds;
    int count, cap;
    channel_t *next;
};

static conn_t **conns;
static int epfd;
static channel_t **table;
static size_t table_size = 1 << 16;

/* -- buffers ---------------------------------------------------------------------------------- */
static void buf_append(buf_t *b, const char *data, size_t len) {
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) cap *= 2;
        b->data = realloc(b->data, cap);
        if (!b->data) abort();
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void buf_consume(buf_t *b, size_t used) {
    if (used >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + used, b->len - used);
    b->len -= used;
}

/* -- SHA-1 and base64, for the WebSocket accept key ------------------------------------------- */
static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    unsigned char *m = calloc(total, 1);
    if (!m) abort();
    memcpy(m, msg, len);
    m[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) m[total - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t off = 0; off < total; off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)m[off + 4 * i] << 24 | (uint32_t)m[off + 4 * i + 1] << 16 |
                   (uint32_t)m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
            else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
            else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
            else f = b ^ c ^ d, k = 0xCA62C1D6;
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d, d = c, c = rol(b, 30), b = a, a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    free(m);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

static void base64(const unsigned char *in, size_t len, char *out) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
    }
    out[o] = 0;
}

/* -- connections ------------------------------------------------------------------------------ */
static void close_conn(conn_t *c);

static void flush_out(conn_t *c) {
    while (c->out.len) {
        ssize_t n = write(c->fd, c->out.data, c->out.len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) break;
            close_conn(c);
            return;
        }
        buf_consume(&c->out, (size_t)n);
    }
    struct epoll_event ev = {.events = EPOLLIN | (c->out.len ? EPOLLOUT : 0), .data.fd = c->fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    if (!c->out.len && c->close_after) close_conn(c);
}

/* Write now if nothing is queued; queue the rest and wait for EPOLLOUT. */
static void send_bytes(conn_t *c, const char *data, size_t len) {
    if (!c->out.len) {
        ssize_t n = write(c->fd, data, len);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                close_conn(c);
                return;
            }
            n = 0;
        }
        if ((size_t)n == len) return;
        data += n, len -= (size_t)n;
        buf_append(&c->out, data, len);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = c->fd};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    buf_append(&c->out, data, len);
}

/* A server (unmasked) text frame around payload; returns its length. */
static size_t text_frame(char *out, const char *payload, size_t len) {
    size_t h = 0;
    out[h++] = (char)0x81;
    if (len < 126) {
        out[h++] = (char)len;
    } else if (len < 65536) {
        out[h++] = 126;
        out[h++] = (char)(len >> 8);
        out[h++] = (char)len;
    } else {
        out[h++] = 127;
        for (int i = 7; i >= 0; i--) out[h++] = (char)((uint64_t)len >> (8 * i));
    }
    memcpy(out + h, payload, len);
    return h + len;
}

static void send_text(conn_t *c, const char *payload, size_t len) {
    char *frame = malloc(len + 10);
    if (!frame) abort();
    send_bytes(c, frame, text_frame(frame, payload, len));
    free(frame);
}

/* -- channels: a chained hash table of name -> subscriber fds --------------------------------- */
static uint64_t hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static channel_t *channel(const char *name, size_t len, int create) {
    channel_t **slot = &table[hash(name, len) & (table_size - 1)];
    for (channel_t *ch = *slot; ch; ch = ch->next)
        if (ch->name_len == len && !memcmp(ch->name, name, len)) return ch;
    if (!create) return NULL;
    channel_t *ch = calloc(1, sizeof *ch);
    if (!ch) abort();
    ch->name = malloc(len);
    memcpy(ch->name, name, len);
    ch->name_len = len;
    ch->next = *slot;
    *slot = ch;
    return ch;
}

static void join(conn_t *c, channel_t *ch) {
    for (int i = 0; i < c->joined; i++)
        if (c->channels[i] == ch) return;
    if (c->joined == MAX_JOINED) return;
    c->channels[c->joined++] = ch;
    if (ch->count == ch->cap) {
        ch->cap = ch->cap ? ch->cap * 2 : 4;
        ch->fds = realloc(ch->fds, sizeof(int) * (size_t)ch->cap);
        if (!ch->fds) abort();
    }
    ch->fds[ch->count++] = c->fd;
}

static void close_conn(conn_t *c) {
    for (int i = 0; i < c->joined; i++) {
        channel_t *ch = c->channels[i];
        for (int j = 0; j < ch->count; j++)
            if (ch->fds[j] == c->fd) {
                ch->fds[j] = ch->fds[--ch->count];
                break;
            }
    }
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    conns[c->fd] = NULL;
    free(c->in.data);
    free(c->out.data);
    free(c);
}

/* -- a JSON string token after "key": (raw, quotes and escapes included) ---------------------- */
static int json_string(const char *s, size_t len, const char *key, const char **tok,
                       size_t *tok_len) {
    size_t key_len = strlen(key);
    const char *end = s + len, *p = s;
    while ((p = memmem(p, (size_t)(end - p), key, key_len)) != NULL) {
        const char *q = p + key_len;
        p = q;
        while (q < end && (*q == ' ' || *q == ':')) q++;
        if (q >= end || *q != '"' || q == p) continue;
        const char *start = q++;
        while (q < end && *q != '"') q += *q == '\\' ? 2 : 1;
        if (q >= end) return 0;
        *tok = start;
        *tok_len = (size_t)(q + 1 - start);
        return 1;
    }
    return 0;
}

static void publish(const char *body, size_t len) {
    const char *name, *chan, *data;
    size_t name_len, chan_len, data_len;
    if (!json_string(body, len, "\"name\"", &name, &name_len) ||
        !json_string(body, len, "\"channel\"", &chan, &chan_len) ||
        !json_string(body, len, "\"data\"", &data, &data_len))
        return;
    channel_t *ch = channel(chan + 1, chan_len - 2, 0);
    if (!ch || !ch->count) return;
    size_t size = name_len + chan_len + data_len + 64;
    char *payload = malloc(size), *frame = malloc(size + 10);
    if (!payload || !frame) abort();
    int n = snprintf(payload, size, "{\"event\":%.*s,\"channel\":%.*s,\"data\":%.*s}",
                     (int)name_len, name, (int)chan_len, chan, (int)data_len, data);
    size_t frame_len = text_frame(frame, payload, (size_t)n);
    for (int i = ch->count - 1; i >= 0; i--) {
        conn_t *sub = conns[ch->fds[i]];
        if (sub) send_bytes(sub, frame, frame_len);
    }
    free(payload);
    free(frame);
}

/* -- HTTP ------------------------------------------------------------------------------------- */
static const char OK_JSON[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
static const char OK_TEXT[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK";
static const char NOT_FOUND[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

static const char *header(const char *head, size_t len, const char *name, size_t *value_len) {
    size_t name_len = strlen(name);
    const char *end = head + len, *line = memchr(head, '\n', len);
    while (line && line + 1 < end) {
        line++;
        const char *eol = memchr(line, '\r', (size_t)(end - line));
        if (!eol) eol = end;
        if ((size_t)(eol - line) > name_len && line[name_len] == ':' &&
            !strncasecmp(line, name, name_len)) {
            const char *v = line + name_len + 1;
            while (v < eol && *v == ' ') v++;
            *value_len = (size_t)(eol - v);
            return v;
        }
        line = memchr(line, '\n', (size_t)(end - line));
    }
    return NULL;
}

static void upgrade(conn_t *c, const char *key, size_t key_len) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char material[128], digest[20];
    char accept[32], response[256], established[160];
    if (key_len > 64) key_len = 64;
    memcpy(material, key, key_len);
    memcpy(material + key_len, guid, sizeof guid - 1);
    sha1(material, key_len + sizeof guid - 1, digest);
    base64(digest, 20, accept);
    int n = snprintf(response, sizeof response,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    send_bytes(c, response, (size_t)n);
    c->ws = 1;
    n = snprintf(established, sizeof established,
                 "{\"event\":\"pusher:connection_established\",\"data\":"
                 "\"{\\\"socket_id\\\":\\\"%d.1\\\",\\\"activity_timeout\\\":120}\"}",
                 c->fd);
    send_text(c, established, (size_t)n);
}

/* Handles complete requests in c->in; returns bytes used, or -1 when the connection is gone. */
static long handle_http(conn_t *c) {
    size_t used = 0;
    while (!c->ws) {
        const char *start = c->in.data + used;
        size_t avail = c->in.len - used;
        const char *end = memmem(start, avail, "\r\n\r\n", 4);
        if (!end) break;
        size_t head_len = (size_t)(end - start) + 4, vlen = 0, body_len = 0;
        const char *v = header(start, head_len, "Content-Length", &vlen);
        if (v) body_len = strtoul(v, NULL, 10);
        if (avail < head_len + body_len) break;
        const char *body = start + head_len;
        int fd = c->fd;
        if (!strncmp(start, "POST ", 5)) {
            const char *sp = memchr(start + 5, ' ', head_len - 5);
            size_t path_len = sp ? (size_t)(sp - start - 5) : 0;
            const char *query = memchr(start + 5, '?', path_len);
            if (query) path_len = (size_t)(query - start - 5);
            if (path_len > 7 && !memcmp(start + 5 + path_len - 7, "/events", 7))
                publish(body, body_len);
            send_bytes(c, OK_JSON, sizeof OK_JSON - 1);
        } else if (!strncmp(start, "GET /ready", 10)) {
            send_bytes(c, OK_TEXT, sizeof OK_TEXT - 1);
        } else if (!strncmp(start, "GET /app/", 9) &&
                   (v = header(start, head_len, "Sec-WebSocket-Key", &vlen)) != NULL) {
            upgrade(c, v, vlen);
        } else {
            send_bytes(c, NOT_FOUND, sizeof NOT_FOUND - 1);
        }
        if (conns[fd] != c) return -1;
        v = header(start, head_len, "Connection", &vlen);
        if (v && vlen == 5 && !strncasecmp(v, "close", 5)) c->close_after = 1;
        used += head_len + body_len;
        if (c->close_after) {
            flush_out(c);
            return conns[fd] == c ? (long)used : -1;
        }
    }
    return (long)used;
}

/* -- WebSocket frames from the client (masked) ------------------------------------------------ */
static long handle_ws(conn_t *c, size_t used) {
    static const char pong[] = "{\"event\":\"pusher:pong\",\"data\":\"{}\"}";
    while (c->in.len - used >= 2) {
        unsigned char *f = (unsigned char *)c->in.data + used;
        size_t avail = c->in.len - used, h = 2;
        int opcode = f[0] & 0x0F, masked = f[1] & 0x80;
        uint64_t len = f[1] & 0x7F;
        if (len == 126) {
            if (avail < 4) break;
            len = (uint64_t)f[2] << 8 | f[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | f[2 + i];
            h = 10;
        }
        size_t mask_at = h;
        if (masked) h += 4;
        if (avail < h + len) break;
        char *payload = (char *)f + h;
        if (masked)
            for (uint64_t i = 0; i < len; i++) payload[i] ^= (char)f[mask_at + (i & 3)];
        used += h + len;
        if (opcode == 0x8) {
            close_conn(c);
            return -1;
        }
        if (opcode != 0x1) continue;
        int fd = c->fd;
        const char *chan;
        size_t chan_len;
        if (memmem(payload, len, "\"pusher:subscribe\"", 18) &&
            json_string(payload, len, "\"channel\"", &chan, &chan_len)) {
            join(c, channel(chan + 1, chan_len - 2, 1));
            char reply[512];
            int n = snprintf(reply, sizeof reply,
                             "{\"event\":\"pusher_internal:subscription_succeeded\","
                             "\"channel\":%.*s,\"data\":\"{}\"}",
                             (int)(chan_len < 400 ? chan_len : 400), chan);
            send_text(c, reply, (size_t)n);
        } else if (memmem(payload, len, "\"pusher:ping\"", 13)) {
            send_text(c, pong, sizeof pong - 1);
        }
        if (conns[fd] != c) return -1;
    }
    return (long)used;
}

static void readable(conn_t *c) {
    char chunk[READ_CHUNK];
    ssize_t n = read(c->fd, chunk, sizeof chunk);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        close_conn(c);
        return;
    }
    buf_append(&c->in, chunk, (size_t)n);
    long used = 0;
    if (!c->ws) {
        used = handle_http(c);
        if (used < 0) return;
    }
    if (c->ws) {
        used = handle_ws(c, (size_t)used);
        if (used < 0) return;
    }
    buf_consume(&c->in, (size_t)used);
    if (c->in.len > (64u << 20)) close_conn(c);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    conns = calloc(MAX_FDS, sizeof *conns);
    table = calloc(table_size, sizeof *table);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 4096)) {
        perror("bind/listen");
        return 1;
    }
    epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener}, events[256];
    epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev);
    for (;;) {
        int ready = epoll_wait(epfd, events, 256, -1);
        for (int i = 0; i < ready; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                int client;
                while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (client >= MAX_FDS) {
                        close(client);
                        continue;
                    }
                    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn_t *c = calloc(1, sizeof *c);
                    if (!c) abort();
                    c->fd = client;
                    conns[client] = c;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = client};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, client, &cev);
                }
                continue;
            }
            conn_t *c = conns[fd];
            if (!c) continue;
            if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                close_conn(c);
                continue;
            }
            if (events[i].events & EPOLLOUT) {
                flush_out(c);
                if (conns[fd] != c) continue;
            }
            if (events[i].events & EPOLLIN) readable(c);
        }
    }
}
