// main() for fuzz targets in builds without libFuzzer (gcc, and the sanitizer configs):
// runs LLVMFuzzerTestOneInput once on every file named on the command line, or in a
// folder named there, so each target's corpus (its seeds and every input that once found
// a bug) is a regression test in every configuration. Each input is copied into a buffer
// of exactly its size, so an overread reaches ASan's redzone as it would under libFuzzer.
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

namespace {

bool ReadWhole(const std::string& path, std::vector<uint8_t>* out) {
  FILE* f = fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  out->clear();
  uint8_t buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out->insert(out->end(), buf, buf + n);
  const bool ok = ferror(f) == 0;
  fclose(f);
  return ok;
}

void Collect(const std::string& path, std::vector<std::string>* files) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    files->push_back(path);
    return;
  }
  DIR* d = opendir(path.c_str());
  if (d == nullptr) {
    files->push_back(path);  // reported as unreadable below
    return;
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) Collect(path + "/" + n, files);
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;  // libFuzzer's flags, as a libFuzzer binary would take
    Collect(argv[i], &files);
  }
  if (files.empty()) {
    fprintf(stderr, "%s: no inputs (usage: %s FILE_OR_DIR...)\n", argv[0], argv[0]);
    return 2;
  }
  for (const std::string& f : files) {
    std::vector<uint8_t> data;
    if (!ReadWhole(f, &data)) {
      fprintf(stderr, "%s: cannot read %s\n", argv[0], f.c_str());
      return 1;
    }
    // An exact-size heap copy (a vector's data() may be null for an empty input).
    uint8_t* copy = static_cast<uint8_t*>(malloc(std::max<size_t>(data.size(), 1)));
    memcpy(copy, data.data(), data.size());
    fprintf(stderr, "running %s (%zu bytes)\n", f.c_str(), data.size());
    LLVMFuzzerTestOneInput(copy, data.size());
    free(copy);
  }
  fprintf(stderr, "%zu inputs ran without a finding\n", files.size());
  return 0;
}
