/* t_mtfault: page faults of several threads of one process at once: each
 * thread first-touching its own region, all threads first-touching the same
 * pages, copy-on-write after fork raced by the child's threads, and one
 * thread mprotect/munmap-ing while others fault (SIGSEGV caught, never stale
 * data). Every page is checked byte by byte. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define NT 4
#define PG 4096
#define NPAGES 64

static pthread_barrier_t bar;
static unsigned char *region;

static void *map_anon(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Thread i writes the mark 0x10+i at byte i of every page (same pages for
 * all threads), or fills its own slice of pages (own regions). */
static void *touch_same(void *arg)
{
    long i = (long)arg;
    pthread_barrier_wait(&bar);
    for (int p = 0; p < NPAGES; p++)
        region[(size_t)p * PG + i] = (unsigned char)(0x10 + i);
    return NULL;
}

static void *touch_own(void *arg)
{
    long i = (long)arg;
    unsigned char *mine = region + (size_t)i * NPAGES * PG;
    pthread_barrier_wait(&bar);
    for (size_t b = 0; b < (size_t)NPAGES * PG; b += 64)
        mine[b] = (unsigned char)(i * 7 + b / PG);
    return NULL;
}

static int run_threads(void *(*fn)(void *))
{
    pthread_t t[NT];
    pthread_barrier_init(&bar, NULL, NT);
    for (long i = 0; i < NT; i++)
        if (pthread_create(&t[i], NULL, fn, (void *)i) != 0)
            return -1;
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&bar);
    return 0;
}

/* Every page of `region`: bytes 0..NT-1 the marks, the rest `fill`. */
static size_t bad_same(unsigned char fill)
{
    size_t bad = 0;
    for (size_t b = 0; b < (size_t)NPAGES * PG; b++) {
        size_t off = b % PG;
        unsigned char want = off < NT ? (unsigned char)(0x10 + off) : fill;
        bad += region[b] != want;
    }
    return bad;
}

static void test_own_regions(void)
{
    region = map_anon((size_t)NT * NPAGES * PG);
    CHECK("own_mmap", region != NULL);
    if (!region)
        return;
    CHECK("own_threads", run_threads(touch_own) == 0);
    size_t bad = 0;
    for (int i = 0; i < NT; i++)
        for (size_t b = 0; b < (size_t)NPAGES * PG; b++) {
            unsigned char want = b % 64 == 0 ? (unsigned char)(i * 7 + b / PG) : 0;
            bad += region[(size_t)i * NPAGES * PG + b] != want;
        }
    CHECKF("own_every_byte_as_written", bad == 0, "%zu bad bytes", bad);
    munmap(region, (size_t)NT * NPAGES * PG);
}

static void test_same_pages(void)
{
    region = map_anon((size_t)NPAGES * PG);
    CHECK("same_mmap", region != NULL);
    if (!region)
        return;
    CHECK("same_threads", run_threads(touch_same) == 0);
    size_t bad = bad_same(0);
    CHECKF("same_all_four_marks_on_every_page_zeros_elsewhere", bad == 0, "%zu bad bytes", bad);
    munmap(region, (size_t)NPAGES * PG);
}

static void test_cow_race(void)
{
    region = map_anon((size_t)NPAGES * PG);
    CHECK("cow_mmap", region != NULL);
    if (!region)
        return;
    memset(region, 0x5a, (size_t)NPAGES * PG);
    pid_t pid = fork();
    if (pid == 0) {
        if (run_threads(touch_same) != 0)
            _exit(2);
        _exit(bad_same(0x5a) == 0 ? 0 : 1);
    }
    int st = 0;
    CHECK("cow_fork", pid > 0);
    CHECK("cow_waitpid", waitpid(pid, &st, 0) == pid);
    CHECKF("cow_child_s_threads_each_saw_their_marks_and_the_parent_s_data", WIFEXITED(st) && WEXITSTATUS(st) == 0,
           "status %#x", st);
    size_t bad = 0;
    for (size_t b = 0; b < (size_t)NPAGES * PG; b++)
        bad += region[b] != 0x5a;
    CHECKF("cow_parent_unchanged", bad == 0, "%zu bad bytes", bad);
    /* And the parent's own threads race on its now-shared-again pages. */
    CHECK("cow_parent_threads", run_threads(touch_same) == 0);
    bad = bad_same(0x5a);
    CHECKF("cow_parent_s_threads_see_their_marks", bad == 0, "%zu bad bytes", bad);
    munmap(region, (size_t)NPAGES * PG);
}

static __thread sigjmp_buf jb;
static atomic_int phase, stale, segv_after, reads_ok;

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(jb, 1);
}

/* Read the pages of the upper half over and over: a read either gives the
 * pattern (before the munmap) or faults; after the munmap it must fault. */
static void *reader(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&bar);
    for (unsigned n = 0; atomic_load(&phase) < 3; n++) {
        volatile unsigned char *p = region + (size_t)(NPAGES / 2 + n % (NPAGES / 2)) * PG + n % PG;
        int ph = atomic_load(&phase);
        if (sigsetjmp(jb, 1) == 0) {
            unsigned char v = *p;
            if (v != 0xa5)
                atomic_fetch_add(&stale, 1);
            if (ph == 2)
                atomic_fetch_add(&stale, 1);
            atomic_fetch_add(&reads_ok, 1);
        } else if (ph == 2) {
            atomic_fetch_add(&segv_after, 1);
        }
    }
    return NULL;
}

static void test_unmap_while_faulting(void)
{
    size_t len = (size_t)NPAGES * PG;
    region = map_anon(len);
    CHECK("unmap_mmap", region != NULL);
    if (!region)
        return;
    memset(region, 0xa5, len);
    struct sigaction sa = {0};
    sa.sa_handler = on_segv;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    pthread_t t[NT - 1];
    pthread_barrier_init(&bar, NULL, NT);
    for (int i = 0; i < NT - 1; i++)
        pthread_create(&t[i], NULL, reader, NULL);
    pthread_barrier_wait(&bar);
    unsigned char *upper = region + len / 2;
    /* Take access away and give it back while the readers fault. */
    int prot_ok = 1;
    for (int r = 0; r < 20; r++) {
        prot_ok &= mprotect(upper, len / 2, PROT_NONE) == 0;
        usleep(500);
        prot_ok &= mprotect(upper, len / 2, PROT_READ | PROT_WRITE) == 0;
        usleep(500);
    }
    CHECK("unmap_mprotect", prot_ok);
    atomic_store(&phase, 1);
    CHECK("unmap_munmap", munmap(upper, len / 2) == 0);
    atomic_store(&phase, 2);
    usleep(20000);
    atomic_store(&phase, 3);
    for (int i = 0; i < NT - 1; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&bar);
    signal(SIGSEGV, SIG_DFL);
    CHECKF("unmap_no_read_saw_stale_data_or_succeeded_after_munmap", atomic_load(&stale) == 0, "%d stale",
           atomic_load(&stale));
    CHECKF("unmap_reads_after_munmap_fault", atomic_load(&segv_after) > 0, "%d", atomic_load(&segv_after));
    CHECKF("unmap_reads_before_munmap_succeeded", atomic_load(&reads_ok) > 0, "%d", atomic_load(&reads_ok));
    munmap(region, len / 2);
}

int main(void)
{
    check_init("t_mtfault");
    test_own_regions();
    test_same_pages();
    test_cow_race();
    test_unmap_while_faulting();
    return check_done();
}
