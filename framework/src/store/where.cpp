// `runs list --where`: a small grammar, parsed by hand so that nothing a user
// types ever becomes SQL. Keys and values are bound as parameters; the
// operator is one of six fixed strings.
//
//   expression := term { "and" term }
//   term       := key op value
//   key        := [A-Za-z0-9_] [A-Za-z0-9_.-]*
//   op         := "=" | "!=" | "<" | "<=" | ">" | ">="
//   value      := a bare word (no spaces, no quotes) | '...' | "..."
#include <cctype>
#include <cstdlib>
#include <string>
#include <vector>

#include "cerebra/error.h"
#include "cerebra/run_store.h"

namespace cerebra {

namespace {

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\n") - first + 1);
}

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Splits at the word `and` (any case, between spaces) outside quotes.
std::vector<std::string> split_terms(const std::string& expression) {
  std::vector<std::string> terms;
  std::string current;
  char quote = 0;
  for (std::size_t i = 0; i < expression.size(); ++i) {
    const char c = expression[i];
    if (quote) {
      if (c == quote) quote = 0;
      current += c;
      continue;
    }
    if (c == '\'' || c == '"') quote = c;
    const bool at_word = is_space(c) && i + 3 < expression.size() &&
                         std::tolower(static_cast<unsigned char>(expression[i + 1])) == 'a' &&
                         std::tolower(static_cast<unsigned char>(expression[i + 2])) == 'n' &&
                         std::tolower(static_cast<unsigned char>(expression[i + 3])) == 'd' &&
                         (i + 4 == expression.size() || is_space(expression[i + 4]));
    if (at_word) {
      terms.push_back(current);
      current.clear();
      i += 3;  // the loop's ++i steps past the space after `and`
      continue;
    }
    current += c;
  }
  terms.push_back(current);
  return terms;
}

bool is_key_character(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'; }

nlohmann::json bare_value(const std::string& text) {
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  if (!text.empty() && *end == '\0' && text != "nan" && text != "inf" && text != "-inf") return number;
  return text;
}

WhereTerm parse_term(const std::string& raw) {
  const std::string term = trim(raw);
  auto problem = [&](const std::string& what) {
    return Error("--where: term '" + term + "': " + what);
  };
  if (term.empty()) throw Error("--where: an empty term (a term is `key op value`, terms are joined by `and`)");
  std::size_t i = 0;
  while (i < term.size() && is_key_character(term[i])) ++i;
  WhereTerm result;
  result.key = term.substr(0, i);
  if (result.key.empty() || result.key[0] == '.' || result.key[0] == '-') {
    throw problem("expected a key (letters, digits, _ . -) first, e.g. model=resnet50 or test.accuracy>0.9");
  }
  while (i < term.size() && is_space(term[i])) ++i;
  for (const char* op : {"!=", "<=", ">=", "=", "<", ">"}) {
    if (term.compare(i, std::string(op).size(), op) == 0) {
      result.op = op;
      break;
    }
  }
  if (result.op.empty()) throw problem("expected an operator (= != < <= > >=) after '" + result.key + "'");
  i += result.op.size();
  if (i < term.size() && (term[i] == '=' || term[i] == '<' || term[i] == '>' || term[i] == '!')) {
    throw problem("unknown operator '" + result.op + term[i] + "' (use = != < <= > >=)");
  }
  const std::string value = trim(term.substr(i));
  if (value.empty()) throw problem("no value after '" + result.op + "'");
  if (value[0] == '\'' || value[0] == '"') {
    const auto close = value.find(value[0], 1);
    if (close == std::string::npos) throw problem("the quoted value has no closing " + std::string(1, value[0]));
    if (close + 1 != value.size()) throw problem("text after the quoted value: '" + value.substr(close + 1) + "'");
    result.value = value.substr(1, close - 1);  // quoted: always text
    return result;
  }
  for (char c : value) {
    if (is_space(c) || c == '\'' || c == '"') {
      throw problem("the value '" + value + "' holds spaces or quotes: quote it whole ('...' or \"...\")");
    }
  }
  result.value = bare_value(value);
  return result;
}

}  // namespace

std::vector<WhereTerm> parse_where(const std::string& expression) {
  std::vector<WhereTerm> terms;
  if (trim(expression).empty()) return terms;
  for (const auto& text : split_terms(expression)) terms.push_back(parse_term(text));
  return terms;
}

}  // namespace cerebra
