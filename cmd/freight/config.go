package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Configuration comes from three sources, strongest first: command-line
// flags, FREIGHT_* environment variables, and a TOML config file named by
// --config or FREIGHT_CONFIG. The flag set of a command is the single
// description of its keys: an environment variable is the flag name in
// upper case with '-' as '_', a file key is the flag name itself. Unknown or
// invalid keys are errors that name the key.

const envPrefix = "FREIGHT_"

// envName returns the environment variable of a flag.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// loadConfig parses args into fs and then fills every flag not given on
// the command line from the environment and, failing that, from the config
// file. known holds the environment variable names of every command, so
// that a variable meant for another command (FREIGHT_TOKEN set for the
// client while running serve) is not an error, but a typo is.
//
// A command that takes positional arguments (positional) may have them
// between its flags; they are left in fs.Args.
func loadConfig(fs *flag.FlagSet, args []string, environ []string, known map[string]bool, positional bool) error {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		if !positional {
			return fmt.Errorf("unexpected argument %q (this command takes only flags; see -h)", fs.Arg(0))
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if positional {
		// Put the positional arguments back where fs.Args finds them.
		if err := fs.Parse(append([]string{"--"}, rest...)); err != nil {
			return err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var envErrs []error
	for _, kv := range environ {
		key, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(key, envPrefix) || strings.HasPrefix(key, envPrefix+"TEST_") {
			continue
		}
		name := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(key, envPrefix), "_", "-"))
		f := fs.Lookup(name)
		if f == nil {
			if !known[key] {
				envErrs = append(envErrs, fmt.Errorf("unknown environment variable %s", key))
			}
			continue
		}
		if set[name] {
			continue
		}
		if err := fs.Set(name, value); err != nil {
			envErrs = append(envErrs, fmt.Errorf("environment variable %s: invalid value %q: %v", key, value, err))
			continue
		}
		set[name] = true
	}
	if err := errors.Join(envErrs...); err != nil {
		return err
	}

	cf := fs.Lookup("config")
	if cf == nil || cf.Value.String() == "" {
		return nil
	}
	return loadConfigFile(fs, cf.Value.String(), set)
}

// loadConfigFile sets, from the TOML file at path, every flag not already
// set. Keys are flag names; values are strings, numbers or booleans.
func loadConfigFile(fs *flag.FlagSet, path string, set map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	var values map[string]any
	if _, err := toml.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&values); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		if k == "config" || fs.Lookup(k) == nil {
			errs = append(errs, fmt.Errorf("config file %s: unknown key %q", path, k))
			continue
		}
		if set[k] {
			continue
		}
		var s string
		switch v := values[k].(type) {
		case string:
			s = v
		case int64, float64, bool:
			s = fmt.Sprint(v)
		default:
			errs = append(errs, fmt.Errorf("config file %s: key %q must be a string, number or boolean", path, k))
			continue
		}
		if err := fs.Set(k, s); err != nil {
			errs = append(errs, fmt.Errorf("config file %s: key %q: invalid value %q: %v", path, k, s, err))
		}
	}
	return errors.Join(errs...)
}

// oneOf is a flag.Value restricted to a set of words.
type oneOf struct {
	value   string
	allowed []string
}

func (o *oneOf) String() string {
	if o == nil {
		return ""
	}
	return o.value
}

func (o *oneOf) Set(s string) error {
	for _, a := range o.allowed {
		if s == a {
			o.value = s
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Join(o.allowed, ", "))
}
