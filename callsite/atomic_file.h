// Writing a file so that a reader sees the old contents or the new, never a part: the
// bytes go to PATH.tmp.PID, are fsync'ed, and the temporary file is renamed over PATH
// (then the directory is fsync'ed, so the rename survives a crash). On any failure PATH
// is untouched and the temporary file is removed. No malloc: usable inside the allocator.
#ifndef HAKMEM_CALLSITE_ATOMIC_FILE_H_
#define HAKMEM_CALLSITE_ATOMIC_FILE_H_

#include <stddef.h>

namespace hakmem {
namespace callsite {

// An open temporary file: Write() the contents in any number of pieces, then Commit().
// Destroying it uncommitted removes the temporary file.
class AtomicFile {
 public:
  // Opens PATH.tmp.PID; check ok().
  explicit AtomicFile(const char* path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  bool ok() const { return why_ == nullptr; }
  // Why it failed (strerror's text, or "write failed"); nullptr while ok.
  const char* why() const { return why_; }

  bool Write(const void* data, size_t n);
  // fsync, rename over the path, fsync the directory. Returns ok().
  bool Commit();

 private:
  const char* path_;
  char tmp_[4200];
  int fd_ = -1;
  bool committed_ = false;
  const char* why_ = nullptr;
};

// `pattern` with %p replaced by the process id and %% by %, into out[0, cap) (cut short
// if it does not fit): so that the processes of one program keep their files apart.
void ExpandPid(const char* pattern, char* out, size_t cap);

}  // namespace callsite
}  // namespace hakmem

#endif  // HAKMEM_CALLSITE_ATOMIC_FILE_H_
