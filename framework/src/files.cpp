#include "cerebra/files.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cerebra/error.h"

namespace cerebra {

namespace {

// The system's reason, with the free space when the disk is the likely cause.
std::string reason(int error_number, const std::string& path = "") {
  std::string text = std::strerror(error_number);
  if (path.empty() || (error_number != ENOSPC && error_number != EDQUOT)) return text;
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  struct statvfs disk {};
  if (::statvfs(folder.empty() ? "." : folder.c_str(), &disk) == 0) {
    const double free_mb = static_cast<double>(disk.f_bavail) * static_cast<double>(disk.f_frsize) / (1024.0 * 1024.0);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "; %.1f MB free there", free_mb);
    text += buffer;
  }
  return text;
}

// Makes a rename inside `folder` durable; best effort, since some file
// systems refuse to fsync a directory and the data itself is already safe.
void sync_folder(const std::string& file) {
  std::filesystem::path folder = std::filesystem::path(file).parent_path();
  if (folder.empty()) folder = ".";
  int descriptor = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (descriptor < 0) return;
  ::fsync(descriptor);
  ::close(descriptor);
}

// Writes all of `text` to an open file and fsyncs it; false with errno set on failure.
bool write_and_sync(std::FILE* file, const std::string& text) {
  bool ok = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  ok = std::fflush(file) == 0 && ok;
  return ::fsync(fileno(file)) == 0 && ok;
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& text) {
  // Named per process, so that two writers of one file (a shared cache) each
  // rename a whole file of their own, never one the other is still writing.
  const std::string temporary = path + "." + std::to_string(::getpid()) + ".tmp";
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (!file) throw Error(path + ": cannot write: " + reason(errno, path));
  bool ok = write_and_sync(file, text);
  int saved_errno = errno;
  ok = std::fclose(file) == 0 && ok;
  if (!ok) {
    std::remove(temporary.c_str());
    throw Error(path + ": write failed (" + reason(saved_errno ? saved_errno : errno, path) +
                "); the previous file, if any, is unchanged");
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    saved_errno = errno;
    std::remove(temporary.c_str());
    throw Error(path + ": cannot replace: " + reason(saved_errno));
  }
  sync_folder(path);
}

void append_line_durably(const std::string& path, const std::string& line) {
  std::FILE* file = std::fopen(path.c_str(), "ab");
  if (!file) throw Error(path + ": cannot append: " + reason(errno, path));
  std::fseek(file, 0, SEEK_END);
  const long before = std::ftell(file);
  bool ok = write_and_sync(file, line + "\n");
  int saved_errno = errno;
  // Never leave half a line: cut the file back to where it was.
  if (!ok && before >= 0 && ::ftruncate(fileno(file), before) == 0) ::fsync(fileno(file));
  ok = std::fclose(file) == 0 && ok;
  if (!ok) throw Error(path + ": cannot append (" + reason(saved_errno ? saved_errno : errno, path) + ")");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot read: " + reason(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(path + ": read failed: " + reason(errno));
  return buffer.str();
}

std::string csv_field(const std::string& text) {
  bool quote = text.find_first_of(",\"\r\n") != std::string::npos ||
               (!text.empty() && (text.front() == ' ' || text.back() == ' '));
  if (!quote) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_record(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + csv_field(fields[i]);
  return out + "\n";
}

std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> fields(1);
  bool quoted = false, any = false;
  auto finish = [&] {
    if (any || fields.size() > 1 || !fields[0].empty()) records.push_back(std::move(fields));
    fields.assign(1, std::string());
    any = false;
  };
  for (std::size_t pos = 0; pos < text.size(); ++pos) {
    const char c = text[pos];
    if (quoted) {
      if (c != '"') fields.back() += c;
      else if (pos + 1 < text.size() && text[pos + 1] == '"') fields.back() += text[++pos];
      else quoted = false;
    } else if (c == '"') {
      quoted = any = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c == '\n') {
      finish();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  finish();
  return records;
}

}  // namespace cerebra
