// A peer that tickless did not write (openssl s_server/s_client, gnutls-serv,
// gnutls-cli), run as a child process with its stdin and stdout on pipes.
//
// The command-line peers print what they receive on stdout and send what
// they read on stdin, so a test talks to the peer's TLS stack through these
// pipes: bytes a tickless connection wrote must come out of the peer's
// stdout, bytes pushed into its stdin must reach the tickless reader.
#ifndef TICKLESS_TESTS_PEER_PROCESS_H
#define TICKLESS_TESTS_PEER_PROCESS_H

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

class PeerProcess {
public:
    PeerProcess() = default;
    PeerProcess(const PeerProcess &) = delete;
    PeerProcess &operator=(const PeerProcess &) = delete;
    ~PeerProcess() { Stop(); }

    // Starts argv[0] (looked up in PATH) with |argv|; stderr goes to a
    // file in |log_dir| so that a failing test can show what the peer said
    // (LogTail()). Without |read_stdout| the peer's stdout goes there too:
    // a pipe nobody reads fills up and would stop a talkative peer.
    // Returns false with a reason in Error().
    bool Start(const std::vector<std::string> &argv, const std::string &log_dir,
               bool read_stdout = true);

    // Writes all of |data| to the peer's stdin (false if the peer is gone).
    bool Write(const void *data, size_t len);

    // Reads exactly |len| bytes of the peer's stdout into |out|, waiting at
    // most |timeout_ms| in all. Returns the number read (less on timeout or
    // end of output).
    size_t Read(void *out, size_t len, int timeout_ms);

    // Kills the peer (SIGTERM, then SIGKILL after a grace period) and reaps
    // it. Safe to call twice.
    void Stop();

    // The last lines of the peer's stderr, for failure messages.
    std::string LogTail() const;

    const std::string &Error() const { return error_; }
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    int in_fd_ = -1;  // the peer's stdin, our end
    int out_fd_ = -1; // the peer's stdout, our end
    std::string log_path_;
    std::string error_;
};

// True if |program| is found in PATH (a peer this machine can run).
bool ProgramAvailable(const std::string &program);

// A UDP port on 127.0.0.1 that was free a moment ago, for a peer that must
// be told where to listen.
uint16_t FreeUdpPort();

// A fresh directory under TMPDIR (or /tmp) that the caller removes with
// RemoveTree(); "" on failure.
std::string MakeTempDir();
void RemoveTree(const std::string &dir);

#endif
