// Writing files so that a crash or a full disk never leaves half a file, and
// the one CSV dialect every file of a run uses. No torch here.
#pragma once

#include <string>
#include <vector>

namespace cerebra {

// Writes `text` to `path` atomically: a temporary file in the same folder,
// flushed and fsynced, renamed over the target, then the folder fsynced so the
// rename itself survives a crash. Throws Error naming the path (and leaves any
// previous file intact) when the disk is full or not writable.
void write_file_atomically(const std::string& path, const std::string& text);

// Appends one line and fsyncs it; Error naming the path when it cannot.
void append_line_durably(const std::string& path, const std::string& line);

// The whole file as bytes; Error naming the path when it cannot be read.
std::string read_file(const std::string& path);

// CSV field, quoted (RFC 4180) when it holds a comma, quote, newline or edge spaces.
std::string csv_field(const std::string& text);
// One CSV record, fields quoted as needed, ending in "\n".
std::string csv_record(const std::vector<std::string>& fields);
// The records of a CSV text (RFC 4180 quoting; "\r\n" or "\n"); blank lines are skipped.
std::vector<std::vector<std::string>> parse_csv(const std::string& text);

}  // namespace cerebra
