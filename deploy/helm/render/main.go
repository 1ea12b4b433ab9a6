// Command render is a stand-in for `helm template` on machines without helm: it renders a chart's
// templates with the engine helm uses (Go's text/template with the sprig functions, plus helm's
// include, tpl, required, toYaml, fromYaml, toJson and fromJson) and prints the manifests as helm does.
//
// It exists for tests/test_deploy.py, which prefers a real `helm template` when helm is installed.
// It covers what a chart without dependencies, .Files or lookup needs; it is not helm.
//
// Build (Debian: golang-go, golang-github-masterminds-sprig-dev, golang-github-ghodss-yaml-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o render main.go
//
// Use: render [-strict] [-name RELEASE] [-namespace NS] [-f values.yaml]... [-set a.b=c]... CHART_DIR
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/ghodss/yaml"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var valueFiles, sets multi
	name := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	strict := flag.Bool("strict", false, "fail on a missing value, as `helm lint --strict` does")
	flag.Var(&valueFiles, "f", "values file (repeatable)")
	flag.Var(&sets, "set", "key.path=value (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: render [-strict] [-name R] [-namespace NS] [-f FILE]... [-set k=v]... CHART_DIR")
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), *name, *namespace, valueFiles, sets, *strict)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	fmt.Print(out)
}

func readYAML(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	values := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &values); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return values, nil
}

// merge copies src over dst, recursing into maps present in both (helm's coalescing of values files).
func merge(dst, src map[string]interface{}) {
	for key, value := range src {
		if sub, ok := value.(map[string]interface{}); ok {
			if existing, ok := dst[key].(map[string]interface{}); ok {
				merge(existing, sub)
				continue
			}
		}
		dst[key] = value
	}
}

// setPath applies one --set a.b.c=value, typing the value as helm's strvals does for scalars.
func setPath(values map[string]interface{}, assignment string) error {
	path, raw, found := strings.Cut(assignment, "=")
	if !found {
		return fmt.Errorf("--set %q: want key=value", assignment)
	}
	var value interface{} = raw
	if raw == "true" || raw == "false" {
		value = raw == "true"
	} else if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
		value = n
	} else if raw == "null" {
		value = nil
	}
	keys := strings.Split(path, ".")
	node := values
	for _, key := range keys[:len(keys)-1] {
		next, ok := node[key].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			node[key] = next
		}
		node = next
	}
	node[keys[len(keys)-1]] = value
	return nil
}

func render(chartDir, name, namespace string, valueFiles, sets []string, strict bool) (string, error) {
	chart, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, file := range valueFiles {
		extra, err := readYAML(file)
		if err != nil {
			return "", err
		}
		merge(values, extra)
	}
	for _, assignment := range sets {
		if err := setPath(values, assignment); err != nil {
			return "", err
		}
	}
	chartName, _ := chart["name"].(string)
	top := map[string]interface{}{
		"Values": values,
		"Chart": map[string]interface{}{
			"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"],
			"Description": chart["description"], "APIVersion": chart["apiVersion"], "Type": chart["type"],
		},
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "Service": "Helm", "IsInstall": true,
			"IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.30.0", "Major": "1", "Minor": "30"},
		},
	}

	root := template.New("gotpl")
	if strict {
		root.Option("missingkey=error")
	} else {
		root.Option("missingkey=zero")
	}
	root.Funcs(funcMap(root))
	paths, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		return "", err
	}
	sort.Strings(paths)
	var names []string
	for _, path := range paths {
		base := filepath.Base(path)
		if !strings.HasSuffix(base, ".yaml") && !strings.HasSuffix(base, ".yml") &&
			!strings.HasSuffix(base, ".tpl") && !strings.HasSuffix(base, ".txt") {
			continue
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		templateName := filepath.ToSlash(filepath.Join(chartName, "templates", base))
		if _, err := root.New(templateName).Parse(string(text)); err != nil {
			return "", err
		}
		if !strings.HasPrefix(base, "_") && !strings.HasSuffix(base, ".txt") {
			names = append(names, templateName)
		}
	}

	var out strings.Builder
	for _, templateName := range names {
		scope := map[string]interface{}{}
		for key, value := range top {
			scope[key] = value
		}
		scope["Template"] = map[string]interface{}{
			"Name": templateName, "BasePath": filepath.ToSlash(filepath.Join(chartName, "templates")),
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, templateName, scope); err != nil {
			return "", err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", templateName, strings.TrimSpace(text))
	}
	return out.String(), nil
}

func funcMap(root *template.Template) template.FuncMap {
	functions := sprig.TxtFuncMap()
	delete(functions, "env") // helm leaves these out: a render must not depend on the machine
	delete(functions, "expandenv")
	functions["toYaml"] = func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	functions["fromYaml"] = func(text string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(text), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	functions["toJson"] = func(v interface{}) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	}
	functions["fromJson"] = func(text string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(text), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	functions["include"] = func(name string, data interface{}) (string, error) {
		var buf strings.Builder
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	functions["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := root.Clone()
		if err != nil {
			return "", err
		}
		parsed, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf strings.Builder
		if err := parsed.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	functions["required"] = func(message string, value interface{}) (interface{}, error) {
		if value == nil {
			return value, errors.New(message)
		}
		if text, ok := value.(string); ok && text == "" {
			return value, errors.New(message)
		}
		return value, nil
	}
	return functions
}
