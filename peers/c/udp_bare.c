/*
 * udp_bare: the bare-syscall reference receivers of the udprx benchmark (`udprx bench --peers`).
 *
 * One bare twin per udprx receive path: loops that make the path's receive calls and only
 * count datagrams and bytes, nothing else (udprx bench --peers rows c-MODE). Like udprx's
 * default receive, none asks for the source address (a `+sources` udprx row beside its twin
 * shows what the address and a per-datagram drop counter cost):
 *   recvfrom      recvfrom(2) with a NULL address, one datagram per call.
 *   recvfrom-stamp
 *                 recvfrom as above plus one CLOCK_MONOTONIC read per datagram: the bare loop
 *                 with the one thing a latency histogram needs from every call (not a
 *                 `--peers` row; scripts/twin-cpu.sh uses it to price that clock read).
 *   recvfrom-tsc  recvfrom plus one time-stamp counter read (RDTSC) per datagram instead
 *                 (x86-64 only; elsewhere the same as recvfrom-stamp).
 *   recvmmsg      recvmmsg(2), batch 64, MSG_WAITFORONE, no source address, no control messages.
 *   recvmmsg-touch
 *                 recvmmsg as above plus one read of each datagram's first 8 bytes: the bare
 *                 loop with the one cache line a receiver that looks at its datagrams must touch
 *                 (not a `--peers` row; scripts/twin-cpu.sh uses it to price that read).
 *   recvmmsg-gro  recvmmsg(2) as above on a UDP_GRO socket, with the UDP_GRO control message
 *                 to count a coalesced buffer as the datagrams it carries.
 *   uring         io_uring multishot recv (IORING_OP_RECV + IORING_RECV_MULTISHOT) over a provided
 *                 buffer ring; no source address, no control messages.
 *   uring-recvmsg io_uring multishot recvmsg over the same buffer ring (no name area).
 *   uring-gro     uring-recvmsg on a UDP_GRO socket, with the UDP_GRO control message.
 *   epoll         an event loop: one epoll instance (level-triggered EPOLLIN), epoll_wait
 *                 (100 ms), then recvmmsg(2) batches of 64 with MSG_DONTWAIT until a short batch
 *                 or EAGAIN; no source address, no control messages.
 *   The uring modes are built only with liburing (-DHAVE_LIBURING); without it they report
 *   themselves unavailable (exit 3).
 *
 * usage: udp_bare MODE ADDR PORT [--cpu N] [--secs S] [--rcvbuf BYTES]
 *        udp_bare modes        (prints the modes this build offers, e.g. "recvfrom recvmmsg ...")
 *   Binds ADDR:PORT (IPv4 or IPv6 literal), pins itself to CPU N, runs S seconds (default 10,
 *   at most 3600) or until SIGINT/SIGTERM, then prints one line on stdout (SO_RCVBUF is the
 *   kernel default unless --rcvbuf asks for one, as the udprx rows of the same cell do):
 *     udp_bare mode=M datagrams=D bytes=B elapsed_ns=E user_ns=U sys_ns=S
 *   (elapsed from the first received datagram's batch to the end; CPU from getrusage(SELF)).
 *   Prints "ready port=P" to stderr once bound. Exit 0 on success, 2 on bad arguments,
 *   3 on a refused system call.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif
#ifdef HAVE_LIBURING
#include <liburing.h>
#endif

#define BATCH 64
#define BUF_SIZE 2048
#define RING_BUFS 4096 /* power of two */
#define BGID 7
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
/* Room for the UDP_GRO control message (an int). */
#define CTRL_SIZE CMSG_SPACE(sizeof(int))

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t tv_ns(struct timeval tv) {
    return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
}

static int die(const char *what) {
    fprintf(stderr, "udp_bare: %s: %s\n", what, strerror(errno));
    return 3;
}

static int open_socket(const char *addr, int port, long rcvbuf) {
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        len = sizeof *a6;
    } else {
        fprintf(stderr, "udp_bare: bad address '%s'\n", addr);
        return -2;
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
    if (fd < 0) return -1;
    if (rcvbuf > 0) {
        int v = (int)rcvbuf;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) < 0) return -1;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) return -1;
    /* Wake up at least every 100 ms to check the deadline and the signal flag. */
    struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &gl);
    int p = got.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&got)->sin_port)
                                     : ntohs(((struct sockaddr_in6 *)&got)->sin6_port);
    fprintf(stderr, "ready port=%d\n", p);
    return fd;
}

struct counts {
    uint64_t datagrams, bytes, first_ns, stamp_sum;
};

/* Datagrams in a received buffer of `len` bytes by one control message: the UDP_GRO segment
 * size splits a coalesced buffer (the last segment may be short); 0 when `h` is not UDP_GRO. */
static uint64_t gro_cmsg_segments(const struct cmsghdr *h, uint64_t len) {
    if (h->cmsg_level != SOL_UDP || h->cmsg_type != UDP_GRO) return 0;
    int seg;
    memcpy(&seg, CMSG_DATA(h), sizeof seg);
    return seg > 0 && len > 0 ? (len + (uint64_t)seg - 1) / (uint64_t)seg : 0;
}

/* The same over a message's control messages; none means one datagram. */
static uint64_t gro_segments(struct msghdr *m, uint64_t len) {
    for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
        uint64_t n = gro_cmsg_segments(h, len);
        if (n) return n;
    }
    return 1;
}

/* The time-stamp counter (x86-64), or CLOCK_MONOTONIC elsewhere. */
static uint64_t tsc_now(void) {
#if defined(__x86_64__)
    return __rdtsc();
#else
    return now_ns();
#endif
}

/* `stamp`: 1 reads CLOCK_MONOTONIC after every datagram, as a latency record must, 2 the
 * time-stamp counter (kept in stamp_sum so the value is used). */
static int run_recvfrom(int fd, uint64_t deadline, struct counts *c, int stamp) {
    static char buf[BUF_SIZE];
    while (!stop_flag) {
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, NULL, NULL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                if (now_ns() >= deadline) break;
                continue;
            }
            return die("recvfrom");
        }
        if (stamp == 1) c->stamp_sum += now_ns();
        else if (stamp == 2) c->stamp_sum += tsc_now();
        if (c->datagrams == 0) c->first_ns = now_ns();
        c->datagrams++;
        c->bytes += (uint64_t)n;
        /* The deadline is read every 64 datagrams: a clock read per call would be udprx's
         * cost neither. */
        if ((c->datagrams & 63) == 0 && now_ns() >= deadline) break;
    }
    return 0;
}

/* BATCH headers, each with one iovec of `len` bytes in its own `stride`-byte slot of `bufs`;
 * no name, no control area. */
static void mmsg_init(struct mmsghdr *msgs, struct iovec *iov, char *bufs, size_t stride,
                      size_t len) {
    memset(msgs, 0, BATCH * sizeof *msgs);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = bufs + (size_t)i * stride;
        iov[i].iov_len = len;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
}

/* Where the touched bytes go, once at the end, so the compiler keeps the reads. */
static volatile uint64_t touch_sink;

static int run_recvmmsg(int fd, uint64_t deadline, struct counts *c, int gro, int touch) {
    /* With GRO a buffer carries up to 64 KiB of coalesced segments. */
    static char bufs[BATCH][65536];
    static char ctrl[BATCH][CTRL_SIZE];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    mmsg_init(msgs, iov, &bufs[0][0], sizeof bufs[0], gro ? sizeof bufs[0] : BUF_SIZE);
    while (!stop_flag) {
        if (gro) {
            for (int i = 0; i < BATCH; i++) {
                msgs[i].msg_hdr.msg_control = ctrl[i];
                msgs[i].msg_hdr.msg_controllen = CTRL_SIZE;
            }
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                if (now_ns() >= deadline) break;
                continue;
            }
            return die("recvmmsg");
        }
        if (c->datagrams == 0 && n > 0) c->first_ns = now_ns();
        for (int i = 0; i < n; i++) {
            c->bytes += msgs[i].msg_len;
            c->datagrams += gro ? gro_segments(&msgs[i].msg_hdr, msgs[i].msg_len) : 1;
            if (touch) {
                uint64_t v;
                memcpy(&v, bufs[i], sizeof v);
                c->stamp_sum += v;
            }
        }
        /* One clock read per batch, as a bounded loop needs. */
        if (now_ns() >= deadline) break;
    }
    return 0;
}

static int run_epoll(int fd, uint64_t deadline, struct counts *c) {
    static char bufs[BATCH][BUF_SIZE];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    mmsg_init(msgs, iov, &bufs[0][0], sizeof bufs[0], BUF_SIZE);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data = {.u64 = 0}};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) return die("epoll_ctl");
    int draining = 0;
    while (!stop_flag) {
        if (!draining) {
            int r = epoll_wait(ep, &ev, 1, 100);
            if (r < 0 && errno != EINTR) return die("epoll_wait");
            if (r <= 0) {
                if (now_ns() >= deadline) break;
                continue;
            }
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                draining = 0;
                if (now_ns() >= deadline) break;
                continue;
            }
            return die("recvmmsg");
        }
        if (c->datagrams == 0 && n > 0) c->first_ns = now_ns();
        for (int i = 0; i < n; i++) c->bytes += msgs[i].msg_len;
        c->datagrams += (uint64_t)n;
        /* A full batch: more may be queued, take it before waiting again. */
        draining = n == BATCH;
        if (now_ns() >= deadline) break;
    }
    close(ep);
    return 0;
}

#ifdef HAVE_LIBURING
/* recvmsg: multishot recvmsg with the source address (and, with gro, the UDP_GRO control
 * message); otherwise multishot recv. */
static int run_uring(int fd, uint64_t deadline, struct counts *c, int recvmsg, int gro) {
    struct io_uring ring;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = 2 * RING_BUFS;
    int r = io_uring_queue_init_params(8, &ring, &p);
    if (r < 0) {
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN;
        p.cq_entries = 2 * RING_BUFS;
        r = io_uring_queue_init_params(8, &ring, &p);
    }
    if (r < 0) { errno = -r; return die("io_uring_queue_init"); }
    size_t ring_bytes = RING_BUFS * sizeof(struct io_uring_buf);
    struct io_uring_buf_ring *br =
        mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* recvmsg buffers start with an io_uring_recvmsg_out, the address and the control area;
     * GRO buffers hold up to 64 KiB of segments. */
    size_t buf_size = gro ? 65536 : BUF_SIZE;
    char *bufs = mmap(NULL, (size_t)RING_BUFS * buf_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED || bufs == MAP_FAILED) return die("mmap");
    struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br,
                                   .ring_entries = RING_BUFS, .bgid = BGID};
    r = io_uring_register_buf_ring(&ring, &reg, 0);
    if (r < 0) { errno = -r; return die("io_uring_register_buf_ring"); }
    io_uring_buf_ring_init(br);
    int mask = io_uring_buf_ring_mask(RING_BUFS);
    for (int i = 0; i < RING_BUFS; i++)
        io_uring_buf_ring_add(br, bufs + (size_t)i * buf_size, (unsigned)buf_size, (unsigned short)i,
                              mask, i);
    io_uring_buf_ring_advance(br, RING_BUFS);

    struct msghdr tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.msg_namelen = 0;
    tmpl.msg_controllen = gro ? CTRL_SIZE : 0;
    int armed = 0;
    struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 100000000};
    while (!stop_flag) {
        if (!armed) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
            if (recvmsg)
                io_uring_prep_recvmsg_multishot(sqe, fd, &tmpl, 0);
            else
                io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = BGID;
            armed = 1;
        }
        struct io_uring_cqe *cqe;
        r = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            errno = -r;
            return die("io_uring_submit_and_wait_timeout");
        }
        unsigned head, seen = 0, given = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            if (!(cqe->flags & IORING_CQE_F_MORE)) armed = 0;
            if (cqe->res < 0) {
                if (cqe->res != -ENOBUFS && cqe->res != -ECANCELED) {
                    errno = -cqe->res;
                    return die("multishot recv");
                }
                continue;
            }
            if (cqe->flags & IORING_CQE_F_BUFFER) {
                unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                char *buf = bufs + (size_t)bid * buf_size;
                uint64_t len = (uint64_t)cqe->res, n = 1;
                if (recvmsg) {
                    struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(buf, cqe->res, &tmpl);
                    if (!o) {
                        fprintf(stderr, "udp_bare: a recvmsg completion too short to parse\n");
                        return 3;
                    }
                    len = io_uring_recvmsg_payload_length(o, cqe->res, &tmpl);
                    if (gro) {
                        for (struct cmsghdr *h = io_uring_recvmsg_cmsg_firsthdr(o, &tmpl); h;
                             h = io_uring_recvmsg_cmsg_nexthdr(o, &tmpl, h)) {
                            uint64_t k = gro_cmsg_segments(h, len);
                            if (k) n = k;
                        }
                    }
                }
                io_uring_buf_ring_add(br, buf, (unsigned)buf_size, (unsigned short)bid, mask,
                                      (int)given);
                given++;
                if (c->datagrams == 0) c->first_ns = now_ns();
                c->datagrams += n;
                c->bytes += len;
            }
        }
        io_uring_cq_advance(&ring, seen);
        if (given) io_uring_buf_ring_advance(br, (int)given);
        if (now_ns() >= deadline) break;
    }
    io_uring_queue_exit(&ring);
    return 0;
}
#endif

static const char *const MODES[] = {"recvfrom", "recvfrom-stamp", "recvfrom-tsc", "recvmmsg", "recvmmsg-touch", "recvmmsg-gro", "epoll",
                                     "uring", "uring-recvmsg", "uring-gro"};
#define NMODES (int)(sizeof MODES / sizeof MODES[0])

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "modes")) {
#ifdef HAVE_LIBURING
        puts("recvfrom recvfrom-stamp recvfrom-tsc recvmmsg recvmmsg-touch recvmmsg-gro epoll uring uring-recvmsg "
             "uring-gro");
#else
        puts("recvfrom recvfrom-stamp recvfrom-tsc recvmmsg recvmmsg-touch recvmmsg-gro epoll");
#endif
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: udp_bare MODE ADDR PORT [--cpu N] [--secs S] [--rcvbuf BYTES]\n"
                        "       udp_bare modes\n");
        return 2;
    }
    const char *mode = argv[1];
    char *end = NULL;
    long port = strtol(argv[3], &end, 10);
    if (!*argv[3] || *end) port = -1;
    long cpu = -1, rcvbuf = 0;
    double secs = 10;
    for (int i = 4; i < argc; i += 2) {
        if (i + 1 >= argc) { fprintf(stderr, "udp_bare: %s needs a value\n", argv[i]); return 2; }
        if (!strcmp(argv[i], "--cpu")) cpu = strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--secs")) secs = strtod(argv[i + 1], NULL);
        else if (!strcmp(argv[i], "--rcvbuf")) rcvbuf = strtol(argv[i + 1], NULL, 10);
        else { fprintf(stderr, "udp_bare: unknown option %s\n", argv[i]); return 2; }
    }
    if (port < 0 || port > 65535 || !(secs > 0 && secs <= 3600) || rcvbuf < 0 ||
        rcvbuf > (1 << 30)) {
        fprintf(stderr, "udp_bare: port must be 0..65535, --secs in (0, 3600], --rcvbuf 0..1G\n");
        return 2;
    }
    int m = -1;
    for (int i = 0; i < NMODES; i++)
        if (!strcmp(mode, MODES[i])) m = i;
    if (m < 0) {
        fprintf(stderr, "udp_bare: unknown mode '%s' (run 'udp_bare modes')\n", mode);
        return 2;
    }
    int uring = !strncmp(mode, "uring", 5);
    int gro = strstr(mode, "-gro") != NULL;
#ifndef HAVE_LIBURING
    if (uring) {
        fprintf(stderr, "udp_bare: built without liburing: %s mode unavailable\n", mode);
        return 3;
    }
#endif
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0) return die("sched_setaffinity");
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a blocked receive returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int fd = open_socket(argv[2], (int)port, rcvbuf);
    if (fd == -2) return 2;
    if (fd < 0) return die("socket/bind");
    if (gro) {
        int one = 1;
        if (setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) < 0) return die("UDP_GRO");
    }
    uint64_t start = now_ns();
    uint64_t deadline = start + (uint64_t)(secs * 1e9);
    struct counts c = {0, 0, 0, 0};
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    int rc;
    if (!strncmp(mode, "recvfrom", 8))
        rc = run_recvfrom(fd, deadline, &c,
                          !strcmp(mode, "recvfrom-stamp") ? 1 : !strcmp(mode, "recvfrom-tsc") ? 2 : 0);
    else if (!strcmp(mode, "epoll"))
        rc = run_epoll(fd, deadline, &c);
    else if (!uring)
        rc = run_recvmmsg(fd, deadline, &c, gro, !strcmp(mode, "recvmmsg-touch"));
    else
#ifdef HAVE_LIBURING
        rc = run_uring(fd, deadline, &c, strcmp(mode, "uring") != 0, gro);
#else
        rc = 3;
#endif
    touch_sink = c.stamp_sum;
    uint64_t fin = now_ns();
    getrusage(RUSAGE_SELF, &r1);
    uint64_t from = c.first_ns ? c.first_ns : start;
    printf("udp_bare mode=%s datagrams=%llu bytes=%llu elapsed_ns=%llu user_ns=%llu sys_ns=%llu\n",
           mode, (unsigned long long)c.datagrams, (unsigned long long)c.bytes,
           (unsigned long long)(fin - from),
           (unsigned long long)(tv_ns(r1.ru_utime) - tv_ns(r0.ru_utime)),
           (unsigned long long)(tv_ns(r1.ru_stime) - tv_ns(r0.ru_stime)));
    fflush(stdout);
    return rc;
}
