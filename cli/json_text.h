// Turning the daemon's JSON fields into short text for people. Every helper accepts a missing
// field, null or an unexpected type and answers "-" rather than throwing: the CLI shows what
// the daemon sent, and a newer daemon may send more or differently shaped fields.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace certinbox::cli {

using Json = nlohmann::json;

// The value at obj[key], or null when obj is not an object or has no such key.
const Json& FieldOf(const Json& obj, std::string_view key);

// The array at obj[key], or an empty array when it is missing or not an array.
const Json& ArrayOf(const Json& obj, std::string_view key);

// A string as is; a number or bool as JSON text; an array as a comma list of its items; an
// object as compact JSON; "-" for null or "".
std::string TextOf(const Json& value);

// YYYY-MM-DD of an RFC 3339 time (or of Unix seconds); "-" when absent.
std::string DateOf(const Json& value);

// "yes" / "no" for a bool, "-" otherwise.
std::string YesNo(const Json& value);

// Findings: strings, or objects with a "code"; comma-separated; "-" when none.
std::string FindingsOf(const Json& findings);

// Where something came from: "inbox/file" for {"inbox", "file"}, a string as is.
std::string SourceOf(const Json& source);

// "group/name" for an entry (or an event's certificate), the default group too.
std::string EntryNameOf(const Json& certificate);

// Labels: an array of strings, or an object of key = value pairs.
std::string LabelsOf(const Json& labels);

// Text for one line of a table or of `events`: "\r" dropped, each "\n" becomes "; ".
std::string OneLine(std::string_view text);

// Compact JSON that never throws on bad UTF-8 (replaced), for JSON output.
std::string DumpJson(const Json& value, int indent = -1);

}  // namespace certinbox::cli
