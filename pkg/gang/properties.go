package gang

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
)

// Where Spark (KubernetesClientUtils in 3.x) mounts the driver's resolved
// conf: a ConfigMap volume with the key spark.properties, written by
// java.util.Properties.store.
const (
	PropertiesKey        = "spark.properties"
	driverConfVolumeName = "spark-conf-volume-driver"
	legacyConfVolumeName = "spark-conf-volume"
)

// PropertiesConfigMap names the ConfigMap that holds the driver's
// spark.properties, so the adapter can look it up in its informer cache.
func PropertiesConfigMap(driver *corev1.Pod) (string, bool) {
	var fallback string
	for _, v := range driver.Spec.Volumes {
		cm := v.ConfigMap
		if cm == nil {
			continue
		}
		if v.Name == driverConfVolumeName || v.Name == legacyConfVolumeName {
			return cm.Name, true
		}
		for _, it := range cm.Items {
			if it.Key == PropertiesKey && fallback == "" {
				fallback = cm.Name
			}
		}
	}
	return fallback, fallback != ""
}

// ParseProperties reads a Java properties file the way
// java.util.Properties.load does: # and ! comments, "=", ":" or whitespace
// between key and value, backslash line continuations and the \t \n \r \f
// \uXXXX escapes. Spark writes spark.properties with Properties.store, which
// escapes ':' and '=' in keys, so a naive split would corrupt such keys.
func ParseProperties(text string) (map[string]string, error) {
	props := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for continues(line) {
			line = line[:len(line)-1]
			if i+1 >= len(lines) {
				break
			}
			i++
			line += strings.TrimLeft(lines[i], " \t\f")
		}
		k, v := splitProperty(line)
		key, err := unescapeProperty(k)
		if err != nil {
			return nil, fmt.Errorf("properties line %q: %w", line, err)
		}
		value, err := unescapeProperty(v)
		if err != nil {
			return nil, fmt.Errorf("properties line %q: %w", line, err)
		}
		props[key] = value
	}
	return props, nil
}

// continues reports whether a line ends in an odd number of backslashes.
func continues(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProperty follows Properties.load's key/value scan.
func splitProperty(line string) (key, value string) {
	keyLen, valueStart, hasSep, escaped := 0, len(line), false, false
	for keyLen < len(line) {
		c := line[keyLen]
		if !escaped && (c == '=' || c == ':') {
			valueStart, hasSep = keyLen+1, true
			break
		}
		if !escaped && (c == ' ' || c == '\t' || c == '\f') {
			valueStart = keyLen + 1
			break
		}
		escaped = c == '\\' && !escaped
		keyLen++
	}
	for valueStart < len(line) {
		c := line[valueStart]
		if c != ' ' && c != '\t' && c != '\f' {
			if hasSep || (c != '=' && c != ':') {
				break
			}
			hasSep = true
		}
		valueStart++
	}
	return line[:keyLen], line[min(valueStart, len(line)):]
}

func hex4(s string, at int) (rune, bool) {
	if at+4 > len(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(s[at:at+4], 16, 32)
	return rune(v), err == nil
}

func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, ok := hex4(s, i+1)
			if !ok {
				return "", fmt.Errorf(`malformed \uxxxx escape in %q`, s)
			}
			i += 4
			// Java strings are UTF-16: a supplementary character comes as
			// a surrogate pair of escapes.
			if utf16.IsSurrogate(r) && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if lo, ok := hex4(s, i+3); ok {
					if c := utf16.DecodeRune(r, lo); c != utf8.RuneError {
						r = c
						i += 6
					}
				}
			}
			b.WriteRune(r)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
