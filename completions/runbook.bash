# bash completion for runbook (installed as share/bash-completion/completions/runbook).
# Everything it offers is read from runbook itself, so it never disagrees with the binary:
# options from `runbook --help`, runbook names from `runbook --list`, parameter names for
# --set from `runbook --describe RUNBOOK`.

_runbook_runbook_on_line() {  # the first word that is not an option or an option's value
  local i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case $w in
      --env | --environments | --set | --confirm | --journal | --from | --only | --skip | --ack | --plan-out | \
        --plan | --override-rehearsal | --timeout | --color) ((i++)) ;;
      -*) ;;
      *=*) ;;
      *) printf '%s\n' "$w"; return ;;
    esac
  done
}

_runbook() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} bin=${COMP_WORDS[0]}
  COMPREPLY=()
  case $prev in
    --color) mapfile -t COMPREPLY < <(compgen -W "auto always never" -- "$cur"); return ;;
    --journal) mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return ;;
    --environments | --plan | --plan-out) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
    --set)
      local rb params
      rb=$(_runbook_runbook_on_line)
      [ -n "$rb" ] || return
      params=$("$bin" --describe "$rb" 2>/dev/null | sed -n '/^Parameters/,/^$/{/^  [a-z_][a-z0-9_]* /s/^  \([a-z0-9_]*\).*/\1=/p}')
      compopt -o nospace 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -W "$params" -- "$cur")
      return ;;
    --env | --confirm | --from | --only | --skip | --ack | --override-rehearsal | --timeout) return ;;
  esac
  if [[ $cur == -* ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$("$bin" --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u)" -- "$cur")
    return
  fi
  if [ -z "$(_runbook_runbook_on_line)" ]; then
    local names
    names=$("$bin" --list 2>/dev/null | cut -f1)
    mapfile -t COMPREPLY < <(compgen -W "$names $(printf '%s.lua ' $names)" -- "$cur")
  fi
}
complete -F _runbook runbook
