// The docs link into the code by line numbers (GitHub's #L10-L14), which go stale as the code moves.
// Every such link carries, right after it, the code it points at:
//
//   ([the scores](../autograd/ops/scaled_dot_product_attention.cpp#L61-L62)<!-- code: scores = matmul -->)
//
// and this test fails, naming the doc line, when the linked lines no longer hold that text, saying
// where the text is now. Links to whole files (no #L) need nothing.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::vector<std::string> read_lines(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Where `text` occurs in `lines`, as "L12" (1-based), or "nowhere".
std::string find_text(const std::vector<std::string>& lines, const std::string& text) {
  std::vector<std::string> found;
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i].find(text) != std::string::npos) found.push_back(fmt::format("L{}", i + 1));
  if (found.empty()) return "nowhere in the file";
  std::string all;
  for (const std::string& at : found) all += (all.empty() ? "" : ", ") + at;
  return "at " + all;
}

struct LinkProblem {
  std::string where, what;
};

// Every line-number link of one markdown file that does not hold what it says it holds.
std::vector<LinkProblem> check_doc(const fs::path& doc, int64_t& links) {
  static const std::regex link(R"(\]\(([^)#\s]+)#L(\d+)(?:-L(\d+))?\)(<!-- code: (.*?) -->)?)");
  std::vector<LinkProblem> problems;
  const std::vector<std::string> lines = read_lines(doc);
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string where = fmt::format("{}:{}", fs::relative(doc, FOCUS_SOURCE_DIR).string(), n + 1);
    for (std::sregex_iterator it(lines[n].begin(), lines[n].end(), link), end; it != end; ++it) {
      ++links;
      const std::smatch& m = *it;
      const fs::path target = (doc.parent_path() / m[1].str()).lexically_normal();
      const int first = std::stoi(m[2]), last = m[3].matched ? std::stoi(m[3]) : first;
      const std::string link_text = fmt::format("{}#L{}{}", m[1].str(), first, m[3].matched ? "-L" + m[3].str() : "");
      if (!m[4].matched) {
        problems.push_back({where, fmt::format("{} has no <!-- code: ... --> after it", link_text)});
        continue;
      }
      const std::string code = m[5].str();
      if (!fs::exists(target)) {
        problems.push_back({where, fmt::format("{}: no such file", link_text)});
        continue;
      }
      const std::vector<std::string> code_lines = read_lines(target);
      bool held = false;
      for (int line = first; line <= last && line <= static_cast<int>(code_lines.size()); ++line)
        held = held || code_lines[static_cast<size_t>(line - 1)].find(code) != std::string::npos;
      if (!held)
        problems.push_back({where, fmt::format("{} should hold \"{}\", which is {}", link_text, code,
                                               find_text(code_lines, code))});
    }
  }
  return problems;
}

}  // namespace

TEST_CASE("every line-number link in the docs points at the code it names", "[docs]") {
  const fs::path root = FOCUS_SOURCE_DIR;
  std::vector<fs::path> docs{root / "README.md"};
  for (const auto& entry : fs::recursive_directory_iterator(root / "docs"))
    if (entry.path().extension() == ".md") docs.push_back(entry.path());
  int64_t links = 0;
  std::vector<LinkProblem> problems;
  for (const fs::path& doc : docs)
    for (LinkProblem& problem : check_doc(doc, links)) problems.push_back(std::move(problem));
  for (const LinkProblem& problem : problems) UNSCOPED_INFO(problem.where << ": " << problem.what);
  CHECK(problems.empty());
  CHECK(links >= 30);  // docs/attention-backprop.md alone links into the code about 35 times
}
