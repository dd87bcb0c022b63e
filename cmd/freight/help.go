package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// examples are shown by "freight <command> -h".
var examples = map[string]string{
	"demo": `  freight demo
  freight demo --addr 127.0.0.1:9090 --data-dir /tmp/freight-demo
`,
	"serve": `  freight serve --database postgres://freight@db/freight --blobs 's3://releases/prod?region=eu-central-1'
  FREIGHT_DATABASE=sqlite:///var/lib/freight/freight.db freight serve --addr :8080 --log-format json
`,
	"login": `  freight login --server https://downloads.example.com --web
                           # opens your browser; sign in there and allow: a personal token
                           # named after this machine is kept (revoke it on your account page)
  freight login --server https://downloads.example.com --no-browser
                           # the same, printing the address to open instead of opening it
  freight login --server https://downloads.example.com --token frt_…
  freight login --server https://downloads.example.com --email you@example.com
                           # signs in with your password (and code) and keeps a new personal token
  freight login            # asks for the URL; then the browser on a desktop, else a token or
                           # your email and password

  The token is kept in the user's configuration directory (login.json, readable by you only).
`,
	"publish": `  freight publish --product millwright --version 2.4.0 --platform windows --arch x86_64 dist/*.msi
  freight publish --product millwright --version 2.5.0-rc.1 --channel rc --notes NOTES.md --draft setup.exe
  # interrupted? run the same command again: parts already received are skipped
`,
	"download": `  freight download millwright@latest --platform windows --arch x86_64
  freight download millwright@2.4.0/millwright-2.4.0-linux-x86_64.tar.gz --dir /srv/installers
  freight download art_01m7zk34qytv28mf9qnb14z61b --segments 16
  # interrupted? run the same command again: it resumes
`,
	"catalog": `  freight catalog
  freight catalog --product millwright --platform windows --json
`,
	"releases": `  freight releases millwright
`,
	"upgrade": `  freight upgrade --product millwright --from 1.0.0
  freight upgrade --product millwright --from 1.0.0 --platform linux --arch x86_64 --download --dir /srv/installers
`,
	"license verify": `  curl -o keys.json https://downloads.example.com/.well-known/freight-license-keys.json
  freight license verify --public-key keys.json acme.lic
  freight license verify --public-key keys.json --hardware-id HASP-0042 --at 2027-06-30T00:00:00Z acme.lic
`,
	"secrets-key": `  freight secrets-key --append /etc/freight/secrets.keys
                           # a new key, the one that seals from the next start; older ones still open
  freight secrets-key --key-id 2026-05
                           # prints the key line, for a secret store that sets FREIGHT_SECRETS_KEY
`,
	"completion": `  source <(freight completion bash)
  freight completion zsh > "${fpath[1]}/_freight"
  freight completion fish > ~/.config/fish/completions/freight.fish
`,
}

// completionFlags declares "freight completion", which prints a completion
// script made from the command table, so it never drifts from the flags.
func completionFlags(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	return func(_ context.Context, stdout, _ io.Writer) error {
		if fs.NArg() != 1 {
			return usageError{fmt.Errorf("completion: name a shell: bash, zsh or fish")}
		}
		cmds := commandFlags()
		switch fs.Arg(0) {
		case "bash", "zsh":
			writeBashCompletion(stdout, cmds, fs.Arg(0) == "zsh")
		case "fish":
			writeFishCompletion(stdout, cmds)
		default:
			return usageError{fmt.Errorf("completion: unknown shell %q: use bash, zsh or fish", fs.Arg(0))}
		}
		return nil
	}
}

// commandFlags maps each command name to its flag names, sorted.
func commandFlags() map[string][]string {
	m := map[string][]string{}
	for _, c := range commands() {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs)
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
		slices.Sort(names)
		m[c.name] = names
	}
	return m
}

func writeBashCompletion(w io.Writer, cmds map[string][]string, zsh bool) {
	if zsh {
		fmt.Fprintln(w, "#compdef freight\nautoload -U +X bashcompinit && bashcompinit")
	}
	var top []string
	for name := range cmds {
		top = append(top, strings.Fields(name)[0])
	}
	slices.Sort(top)
	top = slices.Compact(top)
	fmt.Fprintln(w, "_freight() {")
	fmt.Fprintln(w, `  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]} sub=${COMP_WORDS[2]}`)
	fmt.Fprintf(w, "  if [ \"$COMP_CWORD\" -eq 1 ]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(top, " "))
	fmt.Fprintln(w, `  case "$cmd $sub" in`)
	var names []string
	for name := range cmds {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if strings.Contains(name, " ") {
			fmt.Fprintf(w, "    %q) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", name, strings.Join(cmds[name], " "))
		}
	}
	fmt.Fprintln(w, `  esac`)
	fmt.Fprintln(w, `  if [ ${#COMPREPLY[@]} -gt 0 ]; then return; fi`)
	fmt.Fprintln(w, `  case "$cmd" in`)
	subs := map[string][]string{}
	for _, name := range names {
		if f := strings.Fields(name); len(f) == 2 {
			subs[f[0]] = append(subs[f[0]], f[1])
		}
	}
	for _, name := range names {
		if strings.Contains(name, " ") {
			continue
		}
		fmt.Fprintf(w, "    %s) if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); else COMPREPLY=($(compgen -f -- \"$cur\")); fi ;;\n", name, strings.Join(cmds[name], " "))
	}
	for parent, ss := range subs {
		fmt.Fprintf(w, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", parent, strings.Join(ss, " "))
	}
	fmt.Fprintln(w, "  esac\n}\ncomplete -o default -F _freight freight")
}

func writeFishCompletion(w io.Writer, cmds map[string][]string) {
	var names []string
	for name := range cmds {
		names = append(names, name)
	}
	slices.Sort(names)
	fmt.Fprintln(w, "complete -c freight -f")
	for _, name := range names {
		f := strings.Fields(name)
		if len(f) == 1 {
			fmt.Fprintf(w, "complete -c freight -n __fish_use_subcommand -a %s\n", f[0])
		} else {
			fmt.Fprintf(w, "complete -c freight -n '__fish_seen_subcommand_from %s' -a %s\n", f[0], f[1])
		}
		cond := "__fish_seen_subcommand_from " + f[len(f)-1]
		for _, fl := range cmds[name] {
			fmt.Fprintf(w, "complete -c freight -n '%s' -l %s\n", cond, strings.TrimPrefix(fl, "--"))
		}
	}
}
