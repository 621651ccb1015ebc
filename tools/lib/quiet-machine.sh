# Sourced by the benchmark scripts: they refuse to start while a compiler is
# busy on this machine, since a build beside a benchmark makes its timings noise.
if pgrep -f 'ninja|cc1plus' >/dev/null; then
  echo "a build is running (ninja/cc1plus); run the benchmark on a quiet machine" >&2
  exit 1
fi
