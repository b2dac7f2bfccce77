#pragma once
// Text from files and keyboards, made safe to print: a message or a log line must not carry raw
// control bytes (a terminal would act on them) or bytes that are not UTF-8.
#include <cstddef>
#include <exception>
#include <string>

namespace focus::data {

/// `text` in double quotes with control bytes, quotes, backslashes and bytes that are not UTF-8
/// escaped (as fmt's "{:?}" does: "caf\xc3"); more than `max_bytes` are cut, saying how many.
std::string quoted(const std::string& text, size_t max_bytes = 200);

/// `text` itself when it is valid UTF-8 without control characters (the usual sentence), else
/// quoted(text): a log shows ordinary sentences as they are and anything else escaped.
std::string printable(const std::string& text);

/// `text` line by line: printable() lines as they are, any other line escaped (without quotes), line
/// breaks kept. The last defence for a whole message, whose parts should be escaped where they are
/// written: what reaches the terminal has no control bytes and is UTF-8.
std::string printable_lines(const std::string& text);

/// The one line a program shows a user for an error: the message with printable_lines(), and words
/// for the standard library's few bare ones ("std::bad_alloc", "filesystem error: ...") that the
/// checks in front of them should prevent.
std::string error_text(const std::exception& error);

}  // namespace focus::data
