/*
 * A Kafka-protocol broker for tests: librdkafka's mock cluster, served until SIGTERM or SIGINT.
 *
 *   mockbroker <brokers> [topic:partitions ...]
 *
 * With MOCKBROKER_PORT=<port> in the environment, the first broker listens on that port instead
 * of a free one, so that a test can restart "the same" broker where its clients look for it
 * (librdkafka 2.0.2's mock has no API for this: see bind() below).
 *
 * Prints the bootstrap address (host:port,host:port) as the first line of stdout, then serves.
 * The mock keeps everything in memory and has no CreateTopics API, so topics are created here;
 * others are auto-created by the mock with its default partition count when a client asks.
 * On Linux the broker also stops when the process that started it dies, so a killed test run
 * leaves nothing behind.
 *
 * Build: gcc -O2 -o mockbroker mockbroker.c -lrdkafka
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* librdkafka's mock binds each broker's listener to 127.0.0.1:0. This definition interposes on
 * the libc bind() librdkafka calls: the first IPv4 bind to port 0 gets MOCKBROKER_PORT instead,
 * with SO_REUSEADDR so that the port is free again at once after a previous broker was killed. */
static int port_taken = 0;
int bind(int fd, const struct sockaddr *addr, socklen_t len) {
  const char *want = getenv("MOCKBROKER_PORT");
  if (!port_taken && want != NULL && addr != NULL && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in) &&
      ((const struct sockaddr_in *)addr)->sin_port == 0) {
    struct sockaddr_in sin = *(const struct sockaddr_in *)addr;
    sin.sin_port = htons((unsigned short)atoi(want));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    port_taken = 1;
    return (int)syscall(SYS_bind, fd, (const struct sockaddr *)&sin, (socklen_t)sizeof sin);
  }
  return (int)syscall(SYS_bind, fd, addr, len);
}

static int usage(void) {
  fprintf(stderr, "usage: mockbroker <brokers 1-9> [topic:partitions ...]\n");
  return 2;
}

int main(int argc, char **argv) {
  pid_t parent = getppid();
#ifdef __linux__
  prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
  /* The parent may have died before prctl took effect. */
  if (getppid() != parent) return 1;

  if (argc < 2) return usage();
  char *end = NULL;
  long brokers = strtol(argv[1], &end, 10);
  if (*end != '\0' || brokers < 1 || brokers > 9) return usage();

  /* Blocked before librdkafka starts its threads, which inherit the mask: sigwait below is then
   * the only place these signals are taken. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
  signal(SIGPIPE, SIG_IGN);

  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* The handle only hosts the mock cluster; it never connects anywhere itself. */
  if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "mockbroker: %s\n", errstr);
    return 1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == NULL) {
    fprintf(stderr, "mockbroker: cannot create a librdkafka handle: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, (int)brokers);
  if (mcluster == NULL) {
    fprintf(stderr, "mockbroker: cannot create the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }

  for (int i = 2; i < argc; i++) {
    char *spec = argv[i];
    char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec) return usage();
    long partitions = strtol(colon + 1, &end, 10);
    if (*end != '\0' || partitions < 1 || partitions > 1000) return usage();
    *colon = '\0';
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mcluster, spec, (int)partitions, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fprintf(stderr, "mockbroker: cannot create topic %s: %s\n", spec, rd_kafka_err2str(err));
      return 1;
    }
  }

  printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
  fflush(stdout);

  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }

  rd_kafka_mock_cluster_destroy(mcluster);
  rd_kafka_destroy(rk);
  return 0;
}
