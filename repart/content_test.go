package repart

import "testing"

// fatLabel follows repart's mangle_fat_label: each non-ASCII character
// becomes one "_", the result is cut to 11 characters and upper-cased,
// and what mkfs.vfat refuses becomes "_".
func TestFATLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"esp", "ESP"},
		{"", ""},
		{"xbootldr", "XBOOTLDR"},
		{"my esp.böot", "MY ESP_B_OT"},
		{"Ünïcødé:EFI/system+boot", "_N_C_D__EFI"},
		{"a*b?c,d;e=f", "A_B_C_D_E_F"},
		{"tab\there", "TAB_HERE"},
		{"0123456789abcdef", "0123456789A"},
		{"[x]<y>|\"z\\", "_X__Y___Z_"},
	}
	for _, tt := range tests {
		if got := fatLabel(tt.in); got != tt.want {
			t.Errorf("fatLabel(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
